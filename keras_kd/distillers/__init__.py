"""Distillers: `Distiller`, `MutualDistiller`, `self_distill`, over one shared training step."""
