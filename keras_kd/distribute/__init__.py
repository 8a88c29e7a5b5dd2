"""[TensorFlow] Replica loss scaling, strategies and multi-worker launching."""
