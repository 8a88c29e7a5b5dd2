"""PyTorch DistributedDataParallel around a keras_kd `Distiller` (not a test module).

Keras 3.15 has no `keras.distribution` for PyTorch, and its PyTorch multi-GPU
guide trains with DDP in a custom loop. This job does that with the
`Distiller`'s own loss (`compute_loss`, the function every backend uses):

    KERAS_BACKEND=torch python tests/torch_ddp_job.py IN.npz OUT.npz RANK WORLD PORT

RANK 0 of WORLD 1 runs the global batch in one process; with WORLD 2 each
process takes its half of every batch (gloo, 127.0.0.1), DDP averages the
gradients, and rank 0 writes the student's weights; each rank its losses.
"""

import sys

import numpy as np


def build(keras, keras_kd, data):
    def mlp(name, width):
        inputs = keras.Input((data["x"].shape[1],))
        h = keras.layers.Dense(width, activation="relu", name=f"{name}_hidden")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3, name=f"{name}_logits")(h), name=name)

    teacher, student = mlp("teacher", 16), mlp("student", 8)
    teacher.set_weights([data[f"teacher_{i}"] for i in range(4)])
    student.set_weights([data[f"student_{i}"] for i in range(4)])
    distiller = keras_kd.Distiller(student, teacher, temperature=3.0, alpha=0.7)
    distiller.compile(keras.optimizers.SGD(0.1))  # compiles the label loss the step reads
    return distiller


def main():
    import torch
    import torch.distributed as dist

    import keras

    import keras_kd

    source, out, rank, world, port = sys.argv[1:6]
    rank, world = int(rank), int(world)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    data = dict(np.load(source))
    distiller = build(keras, keras_kd, data)
    model = torch.nn.parallel.DistributedDataParallel(distiller.student)
    optimizer = torch.optim.SGD([p for p in distiller.student.parameters() if p.requires_grad],
                                lr=0.1)
    x, y = data["x"], data["y"]
    global_batch, losses = 16, []
    for start in range(0, len(x), global_batch):
        # This process's share of the global batch.
        share = slice(start + rank * global_batch // world, start + (rank + 1) * global_batch // world)
        xb, yb = torch.as_tensor(x[share]), torch.as_tensor(y[share])
        optimizer.zero_grad()
        loss = distiller.compute_loss(xb, yb, model(xb))  # soft + label terms, teacher in it
        loss.backward()  # DDP averages the gradients over the processes
        optimizer.step()
        losses.append(float(loss))
    np.save(f"{out}.losses{rank}.npy", np.array(losses))
    if rank == 0:
        np.savez(out, **{f"student_{i}": w for i, w in enumerate(distiller.student.get_weights())},
                 teacher_unchanged=np.array(all(np.array_equal(w, data[f"teacher_{i}"]) for i, w
                                                in enumerate(distiller.teacher.get_weights()))))
    dist.barrier()  # both ranks done before the group goes: a rank left alone can hang in gloo
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.modules["tensorflow"] = None  # as on the GPU machine: no TensorFlow
    main()
