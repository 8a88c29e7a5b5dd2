"""[TensorFlow] Teacher outputs stored once and reused: `tf.data` pipeline inspection, disk caches, recorded augmented epochs."""
