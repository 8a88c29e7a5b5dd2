"""`FeatureHint`: match a student layer's output to a teacher layer's (FitNets)."""

import keras

HINT_LOSSES = ("mse", "cosine")


class FeatureHint:
    """One FitNets hint: a student layer learns to reproduce a teacher layer.

    The student's features pass through a learned projection (a `Dense` layer
    for vectors, a 1x1 `Conv2D` for feature maps) to the teacher's width; the
    projection trains with the student and is not part of the exported
    student.

    Args:
        student_layer: String, the name of a layer of the student.
        teacher_layer: String, the name of a layer of the teacher.
        loss: String, "mse" or "cosine". Defaults to "mse".
        weight: Float >= 0, the weight of this term in the loss. Defaults to 1.0.
        projection: Boolean. False compares the features directly, which
            needs equal shapes. Defaults to True.
        teacher_index: Integer, which teacher (with several). Defaults to 0.

    Example:

    ```python
    hint = keras_kd.FeatureHint("student_hidden", "teacher_hidden_2", loss="cosine")
    distiller = keras_kd.Distiller(student, teacher, hints=[hint])
    ```
    """

    def __init__(self, student_layer, teacher_layer, loss="mse", weight=1.0,
                 projection=True, teacher_index=0):
        if loss not in HINT_LOSSES:
            raise ValueError(f"FeatureHint loss must be one of {HINT_LOSSES}, got {loss!r}.")
        if not float(weight) >= 0:
            raise ValueError(f"FeatureHint weight must be >= 0, got {weight!r}.")
        self.student_layer = student_layer
        self.teacher_layer = teacher_layer
        self.loss = loss
        self.weight = float(weight)
        self.projection = bool(projection)
        self.teacher_index = int(teacher_index)

    def get_config(self):
        return {
            "student_layer": self.student_layer,
            "teacher_layer": self.teacher_layer,
            "loss": self.loss,
            "weight": self.weight,
            "projection": self.projection,
            "teacher_index": self.teacher_index,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"FeatureHint({self.student_layer!r} -> {self.teacher_layer!r}, {self.loss})"


def as_hints(hints):
    """A list of `FeatureHint` from hints, their configs or `(student, teacher)` name pairs."""
    result = []
    for hint in hints or []:
        if isinstance(hint, dict):
            hint = FeatureHint.from_config(hint)
        elif isinstance(hint, (tuple, list)) and len(hint) == 2:
            hint = FeatureHint(*hint)
        if not isinstance(hint, FeatureHint):
            raise TypeError(
                "Each hint must be a keras_kd.FeatureHint or a (student_layer, "
                f"teacher_layer) pair of names, got {hint!r}."
            )
        result.append(hint)
    return result


def layer_output(model, name, role):
    """The symbolic output of layer `name` of a functional or Sequential `model`."""
    try:
        model.inputs  # noqa: B018  (raises for subclassed models)
        layer = model.get_layer(name)
    except ValueError:
        names = [layer.name for layer in getattr(model, "layers", [])]
        raise ValueError(
            f"The {role} '{model.name}' has no layer named {name!r}. Its layers "
            f"are: {', '.join(names) or 'none (a subclassed model)'}. Feature "
            "hints need Functional or Sequential models built with an Input."
        ) from None
    except AttributeError:
        raise ValueError(
            f"Feature hints need a Functional or Sequential {role} built with "
            f"an Input; '{model.name}' is a subclassed model."
        ) from None
    return layer.output


def with_features(model, names, role):
    """`model` with extra outputs: its own output followed by the named layers' outputs."""
    outputs = [layer_output(model, name, role) for name in names]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, [model.outputs[0]] + outputs, name=f"{model.name}_features")


def projection_for(hint, student_shape, teacher_shape):
    """The layer that maps student features to the teacher's shape, or None.

    Raises:
        ValueError: when the shapes cannot be matched (different ranks or
            spatial sizes, or different shapes with `projection=False`).
    """
    student_shape, teacher_shape = tuple(student_shape[1:]), tuple(teacher_shape[1:])
    where = f"hint {hint.student_layer!r} -> {hint.teacher_layer!r}"
    if not hint.projection:
        if student_shape != teacher_shape:
            raise ValueError(
                f"For {where} the student features have shape {student_shape} and "
                f"the teacher's {teacher_shape}; without a projection they must be "
                "equal. Pass projection=True to learn a mapping."
            )
        return None
    if len(student_shape) != len(teacher_shape) or student_shape[:-1] != teacher_shape[:-1]:
        raise ValueError(
            f"For {where} the student features have shape {student_shape} and the "
            f"teacher's {teacher_shape}: a projection maps only the last (channel) "
            "axis, so the other axes must agree. Choose layers of the same "
            "spatial size."
        )
    width = teacher_shape[-1]
    name = f"hint_projection_{hint.student_layer}"
    if len(student_shape) == 1:
        return keras.layers.Dense(width, name=name)
    if len(student_shape) == 3:
        return keras.layers.Conv2D(width, 1, name=name)
    return keras.layers.Dense(width, name=name)  # acts on the last axis
