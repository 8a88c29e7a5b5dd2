"""`TeacherView`: every teacher's logits and hinted features as one flat row per example.

A `Distiller` reads its teachers through one model, so that one forward pass
(or one `TeacherCache` column) carries everything the loss needs. The view
also knows how to split such a row back into its parts. Token or pixel
logits, and features of unknown size (sequences of any length), cannot share
a flat row: the view then outputs a list, which runs per batch or is kept
in memory for arrays, but is not written to a `TeacherCache`.
"""

import keras
import numpy as np
from keras import ops

from keras_kd.distillers import hints as hints_lib


class TeacherView:
    """The teachers' outputs that a distiller reads, and how a flat row splits into them.

    Args:
        teachers: List of frozen teacher `keras.Model`s.
        student: The student `keras.Model`; hints read its layers too.
        hints: List of `keras_kd.FeatureHint`.

    Attributes:
        model: The `keras.Model` the step runs and caches store: the teacher
            itself for one teacher without hints, otherwise a model whose
            output concatenates every teacher's logits and hinted features.
        student_features: None without hints, else the student as a model
            that also outputs its hinted layers.
        projections: One layer (or None) per hint, mapping student features
            to the teacher's shape; built here.
        hint_slots: For each hint, the index of its teacher features in
            `split(row)`.
        structured: Boolean. True when `model` outputs a list instead of
            one flat row: token or pixel logits with hints, or hinted
            features of unknown size (sequences).
    """

    def __init__(self, teachers, student, hints):
        num_classes = _num_classes(teachers[0]) or _num_classes(student)
        if hints and num_classes is None:
            raise ValueError(
                "Feature hints need Functional or Sequential models built with an "
                "Input, so that their layers' shapes are known."
            )
        self.teachers = teachers
        self.layout = [("logits", num_classes)] * len(teachers)
        self.projections, self.hint_slots, self.student_features = [], [], None
        self.structured = False
        if not hints:
            self.model = teachers[0] if len(teachers) == 1 else _ConcatenatedTeachers(
                teachers, teachers, [0] * len(teachers)
            )
            return
        self.student_features = hints_lib.with_features(
            student, [h.student_layer for h in hints], "student"
        )
        per_teacher = [[] for _ in teachers]
        for hint in hints:
            if not 0 <= hint.teacher_index < len(teachers):
                raise ValueError(
                    f"{hint!r} names teacher {hint.teacher_index}, but there are "
                    f"{len(teachers)} teachers."
                )
            t_out = hints_lib.layer_output(teachers[hint.teacher_index], hint.teacher_layer, "teacher")
            s_out = hints_lib.layer_output(student, hint.student_layer, "student")
            projection = hints_lib.projection_for(hint, s_out.shape, t_out.shape)
            if projection is not None:
                projection.build(s_out.shape)
            self.projections.append(projection)
            per_teacher[hint.teacher_index].append(hint.teacher_layer)
        runners = [
            hints_lib.with_features(t, names, "teacher") if names else t
            for t, names in zip(teachers, per_teacher)
        ]
        for teacher, names in zip(teachers, per_teacher):
            for name in names:
                shape = tuple(hints_lib.layer_output(teacher, name, "teacher").shape[1:])
                self.layout.append(("features", shape))
        # One flat row per example where every shape is known and the logits are a
        # classifier's; otherwise (tokens, pixels, sequences of any length) a list.
        self.structured = len(teachers[0].outputs[0].shape) > 2 or any(
            kind == "features" and None in size for kind, size in self.layout)
        self.model = _ConcatenatedTeachers(teachers, runners, [len(n) for n in per_teacher],
                                           flat=not self.structured)
        # Features are stored per teacher; map each hint to its slot in the layout.
        order = [(k, n) for k, names in enumerate(per_teacher) for n in names]
        self.hint_slots = [
            len(teachers) + order.index((h.teacher_index, h.teacher_layer)) for h in hints
        ]

    @property
    def columns(self):
        """Integer or None: the width of a flat row (None when unknown or not flat)."""
        if self.structured:
            return None
        sizes = [size if kind == "logits" else int(np.prod(size)) for kind, size in self.layout]
        return None if None in sizes else sum(sizes)

    def split(self, flat):
        """A flat row batch (or the structured view's list) as `[logits per teacher] + [features per hint slot]`."""
        if isinstance(flat, (list, tuple)):
            return list(flat)
        if len(self.layout) == 1:
            return [flat]
        parts, offset = [], 0
        for kind, size in self.layout:
            if kind == "logits":
                # Subclassed teachers have no symbolic outputs to read the
                # class count from; without hints the row is K equal blocks.
                size = size or flat.shape[-1] // len(self.teachers)
                parts.append(flat[..., offset : offset + size])
                offset += size
            else:
                count = int(np.prod(size))
                parts.append(ops.reshape(flat[:, offset : offset + count], (-1,) + size))
                offset += count
        return parts


class _ConcatenatedTeachers(keras.Model):
    """Every teacher's logits and hinted features: one flat row per example, or a list."""

    def __init__(self, teachers, runners, feature_counts, flat=True, **kwargs):
        super().__init__(name="teacher_view", **kwargs)
        self.teachers = teachers
        self.runners = runners
        self.counts = feature_counts
        self.flat = flat

    def call(self, inputs, training=False):
        logits, features = [], []
        for runner, count in zip(self.runners, self.counts):
            outputs = runner(inputs, training=False)
            if count:
                logits.append(outputs[0])
                features += list(outputs[1:])
            else:
                logits.append(outputs)
        rows = [ops.cast(t, "float32") for t in logits]
        if not self.flat:
            return rows + [ops.cast(f, "float32") for f in features]
        rows += [ops.reshape(ops.cast(f, "float32"), (ops.shape(f)[0], -1)) for f in features]
        return ops.concatenate(rows, axis=-1)


def _num_classes(model):
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, ValueError, IndexError, TypeError):
        return None
