"""Teacher outputs in fewer bytes: the top k logits, or token ids sampled from the teacher.

For vocabularies of tens of thousands, full logits cost 64 KB per token in
float16, so offline LLM distillation stores a few numbers per token instead.
Top-k truncates the tail (its gradient is biased); sampling ids from the
teacher's tempered distribution keeps the forward-KL gradient unbiased
("Sparse Logit Sampling", Anshumann et al., ACL 2025): the empirical
distribution of K draws has expectation `p`, and the KL gradient with
respect to the student's logits is linear in the target distribution.
"""

import numpy as np
from keras_kd import backends

backends.require_tensorflow("keras_kd.caching (teacher caches)")

import tensorflow as tf

# log-probability given to classes no draw hit: exp(-80) * 32k classes is
# below float32's resolution next to 1, and finite, so the KL stays finite.
_UNSAMPLED_LOG_PROB = -80.0


def reconstruct_top_k(values, indices, log_normalizer, num_classes):
    """Full logits from the top-k logits, as FKD does with soft labels.

    The k stored classes keep their logits; the others share the remaining
    probability mass (at T = 1) equally, which `log_normalizer` (the
    logsumexp of the full logits) makes exact.

    Args:
        values: Float tensor `(batch, ..., k)`, the largest logits (per
            example, or per token or pixel).
        indices: Int tensor `(batch, ..., k)`, their classes.
        log_normalizer: Float tensor `(batch, ...)`, logsumexp of all logits.
        num_classes: Integer, the number of classes.

    Returns:
        Float32 tensor `(batch, ..., num_classes)` whose softmax keeps the
        top-k probabilities and spreads the rest uniformly.
    """
    values = tf.cast(values, tf.float32)
    log_normalizer = tf.cast(log_normalizer, tf.float32)
    k = tf.shape(values)[-1]
    top_mass = tf.reduce_sum(tf.exp(values - log_normalizer[..., None]), axis=-1)
    rest = tf.maximum(1.0 - top_mass, 1e-12) / tf.cast(num_classes - k, tf.float32)
    fill = log_normalizer + tf.math.log(rest)
    hot = tf.one_hot(indices, num_classes)  # (batch, ..., k, classes)
    return fill[..., None] + tf.reduce_sum(hot * (values - fill[..., None])[..., None], axis=-2)


def sample_ids(logits, samples, temperature, rng):
    """Draws `samples` class ids per position from `softmax(logits / temperature)`.

    Args:
        logits: Array `(batch, ..., classes)`.
        samples: Integer K >= 1, draws per position (with replacement).
        temperature: Float > 0, the distillation temperature.
        rng: A `numpy.random.Generator`.

    Returns:
        Int32 array `(batch, ..., K)`.
    """
    logits = np.asarray(logits, np.float64) / temperature
    rows = logits.reshape(-1, logits.shape[-1])
    p = np.exp(rows - rows.max(-1, keepdims=True))
    cdf = np.cumsum(p / p.sum(-1, keepdims=True), axis=-1)
    cdf[:, -1] = 1.0
    # One search over all rows: row r's CDF is shifted to (r, r + 1].
    offsets = np.arange(len(rows))[:, None]
    u = rng.random((len(rows), samples)) + offsets
    flat = np.searchsorted((cdf + offsets).reshape(-1), u.reshape(-1), side="right")
    ids = flat.reshape(len(rows), samples) - offsets * rows.shape[-1]
    ids = np.minimum(ids, rows.shape[-1] - 1)  # u == r + 1 exactly, a measure-zero tie
    return ids.reshape(logits.shape[:-1] + (samples,)).astype("int32")


def sampled_logits(ids, num_classes, temperature):
    """Logits whose tempered softmax is the empirical distribution of sampled ids.

    `softmax(result / temperature)` puts `count_c / K` on each class drawn
    `count_c` times out of K (and `exp(-80)`-small mass elsewhere), so a
    `Distiller` with the same temperature and `distillation_loss="kl"` gets
    an unbiased estimate of the full KL's gradient.

    Args:
        ids: Int tensor `(batch, ..., K)` from `sample_ids`.
        num_classes: Integer.
        temperature: Float, the temperature the ids were drawn at.

    Returns:
        Float32 tensor `(batch, ..., num_classes)`.
    """
    ids = tf.convert_to_tensor(ids, tf.int32)
    shape = tf.shape(ids)
    samples = shape[-1]
    rows = tf.reshape(ids, (-1, samples))
    count = tf.shape(rows)[0]
    positions = tf.repeat(tf.range(count), samples)
    pairs = tf.stack([positions, tf.reshape(rows, (-1,))], axis=1)
    counts = tf.tensor_scatter_nd_add(
        tf.zeros((count, num_classes)), pairs, tf.ones((count * samples,))
    )
    log_p = tf.where(counts > 0, tf.math.log(counts / tf.cast(samples, tf.float32)),
                     _UNSAMPLED_LOG_PROB)
    logits = temperature * log_p
    return tf.reshape(logits, tf.concat([shape[:-1], [num_classes]], axis=0))
