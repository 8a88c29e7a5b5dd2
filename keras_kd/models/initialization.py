"""`copy_teacher_layers`: start a student from some of its teacher's layers (DistilBERT)."""

import keras


def copy_teacher_layers(student, teacher, layer_map=None):
    """Initialises student layers with the weights of teacher layers.

    DistilBERT (Sanh et al. 2019) starts its half-depth student from the
    teacher: the embeddings, the output head and one of every two transformer
    layers. This copies the weights of every student layer that has a teacher
    layer of the same name (or of the name `layer_map` gives it). Layers of
    nested models (a KerasHub task's backbone) count by their own names;
    models themselves are not matched, only the layers that hold weights.

    Args:
        student: A built `keras.Model`.
        teacher: A built `keras.Model`.
        layer_map: Dict from student layer names to teacher layer names, for
            layers whose names differ; the others match by name. Defaults to
            None.

    Returns:
        List of `(student_layer, teacher_layer)` name pairs whose weights were
        copied, in the student's layer order.

    Raises:
        ValueError: a name in `layer_map` is missing from either model, or a
            matched pair holds weights of different shapes.

    Example:

    ```python
    # A 2-layer student from layers 0 and 2 of a 4-layer KerasHub BERT.
    keras_kd.copy_teacher_layers(student, teacher, {
        f"transformer_layer_{i}": f"transformer_layer_{2 * i}" for i in range(2)})
    ```
    """
    student_layers, teacher_layers = _weighted_layers(student), _weighted_layers(teacher)
    layer_map = dict(layer_map or {})
    for name, where, layers in [(s, "student", student_layers) for s in layer_map] + [
        (t, "teacher", teacher_layers) for t in layer_map.values()
    ]:
        if name not in layers:
            raise ValueError(
                f"layer_map names {name!r}, but the {where} has no layer of that name with "
                f"weights. Its layers with weights are: {', '.join(layers)}."
            )
    copied = []
    for name, layer in student_layers.items():
        source = teacher_layers.get(layer_map.get(name, name))
        if source is None:
            continue
        shapes = [tuple(w.shape) for w in layer.weights]
        source_shapes = [tuple(w.shape) for w in source.weights]
        if shapes != source_shapes:
            raise ValueError(
                f"Student layer {name!r} has weights of shapes {shapes} but teacher layer "
                f"{source.name!r} {source_shapes}. Give the student the teacher's widths "
                "(DistilBERT keeps them), or map the layer to one of the same shapes."
            )
        layer.set_weights(source.get_weights())
        copied.append((name, source.name))
    return copied


def _weighted_layers(model):
    """Name to layer, for every layer with weights inside `model` and its nested models."""
    found = {}

    def visit(container):
        for layer in container.layers:
            if isinstance(layer, keras.Model):
                visit(layer)
            elif layer.weights:
                if layer.name in found:
                    raise ValueError(
                        f"Two layers of '{model.name}' are named {layer.name!r}; layers must "
                        "have unique names to be matched."
                    )
                found[layer.name] = layer

    visit(model)
    return found
