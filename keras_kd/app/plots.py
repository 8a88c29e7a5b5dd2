"""The PNGs of a run: training curves, accuracy against size and latency, the search."""

import numpy as np


def _mean_curve(histories, key):
    curves = [h[key] for h in histories if key in h]
    return np.mean(curves, axis=0) if curves else None


def training_curves(scratch, distilled, path, epochs_per_point=1):
    """Label loss, distillation loss and test accuracy, mean over seeds, against epochs done.

    `epochs_per_point`: epochs' worth of steps in one `fit` epoch (a recipe
    training on k recorded views makes one `fit` epoch of k passes).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scratch_h = [h for _, h in scratch]
    distilled_h = [h for _, h in distilled]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))

    def plot(ax, curve, **kwargs):
        if curve is not None:
            ax.plot(epochs_per_point * np.arange(1, len(curve) + 1), curve, **kwargs)

    plot(axes[0], _mean_curve(scratch_h, "loss"), label="scratch")
    plot(axes[0], _mean_curve(distilled_h, "student_loss"), label="distilled")
    axes[0].set_title("label loss (train)")
    plot(axes[1], _mean_curve(distilled_h, "distillation_loss"), label="train", color="C1")
    plot(axes[1], _mean_curve(distilled_h, "val_distillation_loss"), label="test", color="C1",
         ls="--")
    axes[1].set_title("distillation loss (distilled student)")
    plot(axes[2], _mean_curve(scratch_h, "val_accuracy"), label="scratch")
    plot(axes[2], _mean_curve(distilled_h, "val_accuracy"), label="distilled")
    axes[2].set_title("test accuracy")
    for ax in axes:
        ax.set_xlabel("epochs done")
        ax.legend()
    fig.suptitle(f"mean over {len(scratch)} seed(s)")
    fig.tight_layout()
    _save_figure(fig, path)


def accuracy_latency(rows, path):
    """Test accuracy against parameters and against batch-256 latency, with SD error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    batch = max(rows[0].latency_ms)
    for i, row in enumerate(rows):
        label = row.name if row.artifact == "SavedModel" else f"{row.name} ({row.artifact})"
        accuracy, spread = 100 * row.accuracy, 100 * row.spread
        dodge = 1 + 0.06 * (i - 1) if row.name != "teacher" else 1  # students share a size
        for ax, x in ((axes[0], row.params * dodge), (axes[1], row.latency_ms[batch])):
            ax.errorbar(x, accuracy, yerr=spread, fmt="o", capsize=4, color=f"C{i}",
                        label=label)
    sizes = sorted({row.params for row in rows})
    axes[0].set_xscale("log")
    axes[0].set_xlim(sizes[0] / 2, sizes[-1] * 2)
    axes[0].set_xticks(sizes)
    axes[0].xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axes[0].xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_xlabel("parameters (log scale; ticks at the models' sizes)")
    axes[0].set_title("accuracy against size")
    axes[1].set_xlim(left=0)
    axes[1].set_xlabel(f"latency of a batch of {batch} (ms, SavedModel)")
    axes[1].set_title("accuracy against latency")
    seeds = max(len(row.accuracies) for row in rows)
    for ax in axes:
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")  # never over a point (the teacher sits lower right)
    fig.suptitle(f"error bars: sample SD over {seeds} seeds" if seeds > 1 else "one seed")
    fig.tight_layout()
    _save_figure(fig, path)


def _save_figure(fig, path):
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def search_scatter(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials = [r for r in rows if r["temperature"] is not None and r["score"] is not None]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    if trials:
        points = ax.scatter([r["temperature"] for r in trials], [r["alpha"] for r in trials],
                            c=[r["score"] for r in trials], cmap="viridis", s=60)
        fig.colorbar(points, label="validation accuracy")
    baseline = [r for r in rows if r["temperature"] is None]
    for row in baseline:
        ax.axhline(0.0, color="grey", ls="--", label=f"labels only: {row['score']:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("temperature (log scale)")
    ax.set_ylabel("alpha")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    _save_figure(fig, path)
