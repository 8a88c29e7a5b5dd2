"""`FeatureHint`: match a student layer's output to a teacher layer's (FitNets)."""

import keras
from keras import ops

from keras_kd import internals

HINT_LOSSES = ("mse", "cosine")


class FeatureHint:
    """One FitNets hint: a student layer learns to reproduce a teacher layer.

    The student's features pass through a learned projection (a `Dense` layer
    for vectors, a 1x1 `Conv2D` for feature maps) to the teacher's width; the
    projection trains with the student and is not part of the exported
    student.

    Sequence features, `(batch, steps, width)`, are compared step by step
    and averaged over the unpadded steps (a Keras mask on the student's
    features, else a KerasHub `padding_mask` input); per-example
    `sample_weight`s apply, and per-token ones where they cover the steps.

    Args:
        student_layer: String, the name of a layer of the student; "a/b"
            names layer "b" of the nested model "a" ("backbone/..." is a
            KerasHub task's backbone).
        teacher_layer: String, the name of a layer of the teacher, likewise.
        loss: String, "mse" or "cosine". Defaults to "mse".
        weight: Float >= 0, the weight of this term in the loss. Defaults to 1.0.
        projection: Boolean. False compares the features directly, which
            needs equal shapes. Defaults to True.
        teacher_index: Integer, which teacher (with several). Defaults to 0.

    Example:

    ```python
    hint = keras_kd.FeatureHint("student_hidden", "teacher_hidden_2", loss="cosine")
    distiller = keras_kd.Distiller(student, teacher, hints=[hint])
    # DistilBERT's cosine loss between KerasHub BERTs' last hidden states.
    keras_kd.FeatureHint("backbone/transformer_layer_1", "backbone/transformer_layer_3",
                         loss="cosine", projection=False)
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
    """The symbolic output of layer `name` of a functional or Sequential `model`.

    `name` may name a layer inside a nested model with a path,
    "backbone/transformer_layer_1" ("backbone" is a KerasHub task's backbone,
    whatever its layer name). Where that layer's output is also an
    output of the nested model (its last layer), the tensor of the outer
    graph is returned, so reading it costs no second forward pass.
    """
    parts = name.split("/")
    chain = [model]
    try:
        chain[0].inputs  # noqa: B018  (raises for subclassed models)
        for part in parts:
            chain.append(_sublayer(chain[-1], part))
    except ValueError:
        names = [layer.name for layer in getattr(chain[-1], "layers", [])]
        where = f"'{model.name}'" if len(chain) == 1 else f"'{'/'.join(parts[:len(chain) - 1])}'"
        raise ValueError(
            f"The {role} {where} has no layer named {parts[len(chain) - 1]!r}. Its layers "
            f"are: {', '.join(names) or 'none (a subclassed model)'}. Feature hints need "
            "Functional or Sequential models built with an Input; name a nested model's "
            "layer as 'outer/inner'."
        ) from None
    except AttributeError:
        raise ValueError(
            f"Feature hints need a Functional or Sequential {role} built with "
            f"an Input; '{chain[-1].name}' is a subclassed model."
        ) from None
    tensor = chain[-1].output
    # From the innermost model out: the nested model's output as its caller's graph holds it.
    for inner in reversed(chain[1:-1]):
        nodes = internals.call_nodes(inner)
        outputs = [id(t) for t in inner.outputs]
        if len(nodes) != 1 or id(tensor) not in outputs:
            break
        tensor = nodes[0].outputs[outputs.index(id(tensor))]
    return tensor


def _sublayer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        if name == "backbone" and isinstance(getattr(model, "backbone", None), keras.Model):
            return model.backbone  # a KerasHub task's, named e.g. "bert_backbone_3"
        raise


def with_features(model, names, role):
    """`model` with extra outputs: its own output followed by the named layers' outputs."""
    outputs = [layer_output(model, name, role) for name in names]
    # The inputs' own structure (a KerasHub task's dict); a Sequential has a list.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    if isinstance(model, keras.Model) and not isinstance(model, keras.Sequential):
        inputs = model.input
    try:
        return keras.Model(inputs, [model.outputs[0]] + outputs, name=f"{model.name}_features")
    except ValueError as error:  # a nested model called on inputs of its own
        raise ValueError(
            f"The {role} '{model.name}' cannot output {names}: {str(error).splitlines()[0]} "
            "A nested layer can be hinted only when its model is called on the outer model's "
            "own inputs (as KerasHub tasks call their backbone)."
        ) from None


def sequence_mask(x, features):
    """The steps of `(batch, steps, channels)` features that count: a Keras mask, or KerasHub's padding mask.

    Returns:
        Boolean tensor `(batch, steps)`, or None (every step counts).
    """
    mask = internals.keras_mask(features)
    if mask is None and isinstance(x, dict) and "padding_mask" in x:
        mask = x["padding_mask"]
    if mask is None or len(mask.shape) != 2:
        return None
    return ops.cast(mask, "bool")


def step_weights(sample_weight, values):
    """The part of `sample_weight` that weighs a hint's per-example or per-step `values`.

    Per-example weights apply to every step. Per-token weights apply where
    they have the steps' static length; others (a masked LM's weights over its
    masked positions) belong to the logits, not to these steps: None.
    """
    if sample_weight is None or len(sample_weight.shape) <= 1 or sample_weight.shape[1] == 1:
        return sample_weight
    if len(values.shape) == 2 and sample_weight.shape[1] is not None and (
            sample_weight.shape[1] == values.shape[1]):
        return sample_weight
    return None


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
    name = "hint_projection_" + hint.student_layer.replace("/", "_")
    if len(student_shape) == 1:
        return keras.layers.Dense(width, name=name)
    if len(student_shape) == 3:
        return keras.layers.Conv2D(width, 1, name=name)
    return keras.layers.Dense(width, name=name)  # acts on the last axis
