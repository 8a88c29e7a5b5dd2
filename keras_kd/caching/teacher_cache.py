"""`TeacherCache`: a frozen teacher's logits computed once, kept on disk, streamed into `fit()`."""

import hashlib
import json
import os
import warnings

import keras
import numpy as np
from keras_kd import backends

backends.require_tensorflow("keras_kd.caching (teacher caches)")

import tensorflow as tf

from keras_kd.caching import pipelines
from keras_kd.caching import targets
from keras_kd.losses.kl import check_temperature
from keras_kd.caching.compact_logits import reconstruct_top_k, sample_ids, sampled_logits
from keras_kd.atomic import atomic_path
from keras_kd.models.tools import inference_function, weights_fingerprint

_FORMAT = 2  # 2: any logits shape per example (tokens, pixels)
_LOGITS = "logits.bin"
_META = "meta.json"
_READ_CHUNK = 1 << 20
# The teacher runs on groups of a pipeline's batches (of one shape) of up to
# this much input and this many examples: building the cache of
# benchmarks/speed.py took 2.33 s with groups of 1,024 against 2.67 s with one
# call per batch of 256 (median, `python benchmarks/cache_grouping.py`), while
# image batches (32 images of 224x224 make 19 MB) stay as the pipeline made
# them, and memory stays bounded by the group.
_GROUP_BYTES = 8 << 20
_GROUP_EXAMPLES = 1024


class RandomPipelineError(ValueError):
    """The pipeline yields different data every epoch, so it cannot be cached.

    Attributes:
        reasons: List of strings, what makes it random.
    """

    def __init__(self, reasons):
        self.reasons = reasons
        super().__init__(
            "This input pipeline yields different data every epoch "
            f"({', '.join(reasons)}), so cached teacher logits would not "
            "match what the student sees. Pass it to fit() uncached (the "
            "teacher then runs on each batch), or attach the cache before "
            "shuffling or augmenting."
        )


class TeacherCache:
    """Teacher logits computed once per dataset and streamed from disk.

    `attach(dataset)` runs the teacher (in inference mode) once over a
    deterministic `tf.data` pipeline, writes its logits to `directory` in
    bounded memory, and returns the pipeline with the logits packed into every
    target, so `Distiller.fit` never runs the teacher again. Entries are keyed
    by a fingerprint of the teacher's weights and of the pipeline (its graph
    and its first batch); a changed teacher or pipeline gets a new entry, and
    a corrupt or truncated entry is rebuilt with a warning.

    Pipelines that change every epoch (random augmentation, reshuffling) are
    refused: the teacher must see the same view as the student, so pass them
    to `fit()` directly and the teacher runs on each batch. Shuffle after
    `attach` instead (`cache.attach(ds).shuffle(...)` on batches, or attach
    an unbatched dataset, then shuffle and batch).

    Args:
        teacher: `keras.Model` that outputs logits.
        directory: String, where entries are stored.
        dtype: String, "float32" or "float16" (half the disk and I/O).
        top_k: Integer or None. Store only the k largest logits per example
            (or token; plus their classes and the log-normalizer) and
            rebuild the rest.
        samples: Integer or None. Store instead K class ids per example (or
            token) drawn from the teacher's `softmax(logits / temperature)`
            (`keras_kd.caching.compact_logits`): 4 bytes a draw, and, unlike
            top-k, the forward-KL gradient stays unbiased. Distill with the
            same temperature and `distillation_loss="kl"`.
        temperature: Float > 0, the temperature the samples are drawn at.
            Defaults to 1.0.
        seed: Integer, seeds the draws. Defaults to 0.
        batch_size: Integer, the batch the teacher runs on for unbatched input.
            Batches of small inputs are grouped into one teacher call of up to
            1,024 examples or 8 MiB of input, which runs faster; the logits
            are the same.

    Example:

    ```python
    cache = keras_kd.TeacherCache(teacher, "/tmp/kd_cache", dtype="float16")
    distiller.fit(cache.attach(train_ds), epochs=30)
    ```
    """

    def __init__(self, teacher, directory, dtype="float32", top_k=None, batch_size=256,
                 samples=None, temperature=1.0, seed=0):
        if dtype not in ("float32", "float16"):
            raise ValueError(f"`dtype` must be 'float32' or 'float16', got {dtype!r}.")
        for name, value in (("top_k", top_k), ("samples", samples)):
            if value is not None and (int(value) != value or value < 1):
                raise ValueError(f"`{name}` must be a positive integer or None, got {value!r}.")
        if top_k is not None and samples is not None:
            raise ValueError("Give `top_k` or `samples`, not both: each is a way to store fewer bytes.")
        self.samples = None if samples is None else int(samples)
        self.temperature = check_temperature(temperature)
        self.seed = int(seed)
        self.teacher = teacher
        self.directory = os.fspath(directory)
        self.dtype = dtype
        self.top_k = None if top_k is None else int(top_k)
        self.batch_size = batch_size
        self._predict = inference_function(teacher)

    def attach(self, dataset, info=None):
        """Returns `dataset` with teacher logits packed into its targets.

        Args:
            dataset: A deterministic `tf.data.Dataset` of `x`, `(x, y)` or
                `(x, y, sample_weight)`, batched or not.
            info: Its `keras_kd.caching.pipelines.PipelineInfo`, when already
                inspected; inspected here otherwise.

        Returns:
            A `tf.data.Dataset` of the same elements whose target is
            `keras_kd.caching.targets.pack(y, teacher_logits)`.

        Raises:
            RandomPipelineError: the pipeline changes from epoch to epoch.
            ValueError: the pipeline is infinite, or its batches vary in size.
        """
        if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError(
                "Cannot cache an infinite dataset: attach the cache before "
                "`.repeat()`, then repeat the attached dataset."
            )
        info = info or pipelines.inspect(dataset)
        if info.random:
            raise RandomPipelineError(list(info.reasons))
        teacher = weights_fingerprint(self.teacher)
        entry = os.path.join(self.directory, self.key(dataset, info, teacher))
        meta = self._open(entry)
        if meta is None:
            meta = self._build(dataset, entry, teacher, info.batched)
        return self._zip(dataset, entry, meta)

    def key(self, dataset, info=None, teacher_fingerprint=None):
        """The entry name for `dataset`: a hash of teacher, pipeline, first batch and format."""
        info = info or pipelines.inspect(dataset)
        digest = hashlib.sha256()
        digest.update((teacher_fingerprint or weights_fingerprint(self.teacher)).encode())
        digest.update(info.fingerprint.encode())
        for batch in dataset.take(1):
            for leaf in tf.nest.flatten(batch):
                digest.update(np.asarray(leaf).tobytes())
        digest.update(f"{_FORMAT}:{self.dtype}:{self.top_k}".encode())
        if self.samples:
            digest.update(f":{self.samples}:{self.temperature}:{self.seed}".encode())
        return digest.hexdigest()[:24]

    def _record_dtype(self, shape):
        """One example's record: its logits `shape`, or per position the top k and a normalizer."""
        shape = tuple(shape)
        if self.samples:
            return np.dtype(("<i4", shape[:-1] + (self.samples,)))
        if self.top_k is None:
            return np.dtype((self.dtype, shape))
        top = shape[:-1] + (self.top_k,)
        return np.dtype([("v", self.dtype, top), ("i", "<i4", top), ("l", "<f4", shape[:-1])])

    def _encode(self, logits):
        logits = np.asarray(logits, dtype="float32")
        if self.samples:
            return sample_ids(logits, self.samples, self.temperature, self._rng).tobytes()
        if self.top_k is None:
            return logits.astype(self.dtype).tobytes()
        k = self.top_k
        if k >= logits.shape[-1]:
            raise ValueError(f"`top_k`={k} must be below the {logits.shape[-1]} classes.")
        top = np.argpartition(-logits, k - 1, axis=-1)[..., :k]
        records = np.empty(len(logits), self._record_dtype(logits.shape[1:]))
        records["v"] = np.take_along_axis(logits, top, axis=-1)
        records["i"] = top
        peak = logits.max(-1, keepdims=True)
        records["l"] = (peak + np.log(np.exp(logits - peak).sum(-1, keepdims=True)))[..., 0]
        return records.tobytes()

    def _build(self, dataset, entry, teacher, batched):
        source = dataset if batched else dataset.batch(self.batch_size)
        source = source.prefetch(tf.data.AUTOTUNE)  # overlap input with the teacher
        digest, sizes, logits_shapes = hashlib.sha256(), [], set()
        self._rng = np.random.default_rng(self.seed)  # draws in the pipeline's order
        with atomic_path(entry) as tmp:
            os.makedirs(tmp)
            with open(os.path.join(tmp, _LOGITS), "wb") as f:
                group, group_bytes, group_shape = [], 0, None
                for batch in source:
                    x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
                    leaves = tf.nest.flatten(x)
                    shape = [leaf.shape[1:] for leaf in leaves]
                    if group and shape != group_shape:  # e.g. padded_batch: lengths vary
                        logits_shapes.add(self._write_logits(group, f, digest))
                        group, group_bytes = [], 0
                    sizes.append(int(leaves[0].shape[0]))
                    group.append(x)
                    group_shape = shape
                    group_bytes += sum(leaf.shape.num_elements() * leaf.dtype.size for leaf in leaves)
                    if group_bytes >= _GROUP_BYTES or len(group) * sizes[0] >= _GROUP_EXAMPLES:
                        logits_shapes.add(self._write_logits(group, f, digest))
                        group, group_bytes = [], 0
                if group:
                    logits_shapes.add(self._write_logits(group, f, digest))
            if not sizes:
                raise ValueError("The dataset is empty: there is nothing to cache.")
            if len(logits_shapes) > 1:
                raise ValueError(
                    "TeacherCache stores one logits shape per example, but the teacher's "
                    f"outputs vary ({sorted(logits_shapes)[:3]}): pad every sequence to one "
                    "length (`padded_batch(..., padded_shapes=...)` with a fixed length)."
                )
            (logits_shape,) = logits_shapes
            if batched and any(s != sizes[0] for s in sizes[:-1]):
                raise ValueError(
                    "TeacherCache needs batches of one size (a smaller last batch "
                    f"is fine); this dataset's sizes vary ({sorted(set(sizes))[:5]}). "
                    "Attach the cache to the unbatched dataset, then batch."
                )
            meta = {
                "format": _FORMAT,
                "teacher": teacher,
                "num_examples": int(sum(sizes)),
                "num_classes": int(logits_shape[-1]),
                "logits_shape": list(logits_shape),
                "batch_size": int(sizes[0]) if batched else None,
                "dtype": self.dtype,
                "top_k": self.top_k,
                "samples": self.samples,
                "temperature": self.temperature,
                "record_bytes": self._record_dtype(logits_shape).itemsize,
                "sha256": digest.hexdigest(),
            }
            with open(os.path.join(tmp, _META), "w") as f:
                json.dump(meta, f, indent=1)
        return meta

    def _write_logits(self, group, file, digest):
        """Runs the teacher once on a group of batches; appends their records."""
        if len(group) == 1:
            inputs = group[0]
        else:
            inputs = tf.nest.map_structure(lambda *parts: tf.concat(parts, 0), *group)
        logits = np.asarray(self._predict(inputs))
        record = self._encode(logits)
        file.write(record)
        digest.update(record)
        return tuple(logits.shape[1:])

    def _open(self, entry):
        """The entry's metadata if complete and intact, else None (warning if damaged)."""
        meta_path, logits_path = os.path.join(entry, _META), os.path.join(entry, _LOGITS)
        if not os.path.exists(entry):
            return None
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            expected = meta["num_examples"] * meta["record_bytes"]
            size = os.path.getsize(logits_path)
            if size != expected:
                raise ValueError(f"{size} bytes where {expected} were written")
            digest = hashlib.sha256()
            with open(logits_path, "rb") as f:
                for chunk in iter(lambda: f.read(_READ_CHUNK), b""):
                    digest.update(chunk)
            if digest.hexdigest() != meta["sha256"]:
                raise ValueError("its checksum does not match")
        except (OSError, ValueError, KeyError, TypeError) as error:
            warnings.warn(
                f"The teacher cache at {entry} is corrupt or truncated ({error}); "
                "rebuilding it.",
                stacklevel=3,
            )
            return None
        return meta

    def _zip(self, dataset, entry, meta):
        dtype = tf.as_dtype(meta["dtype"])
        shape, top_k = tuple(meta["logits_shape"]), meta["top_k"]
        positions = int(np.prod(shape[:-1]))  # tokens or pixels per example; 1 for a classifier

        @tf.autograph.experimental.do_not_convert  # plain tensor code; converting costs ~0.1 s
        def decode(records):
            if meta.get("samples"):
                ids = tf.reshape(tf.io.decode_raw(records, tf.int32),
                                 (-1,) + shape[:-1] + (meta["samples"],))
                return sampled_logits(ids, shape[-1], meta["temperature"])
            if top_k is None:
                logits = tf.cast(tf.io.decode_raw(records, dtype), tf.float32)
                return tf.reshape(logits, (-1,) + shape)
            raw = tf.io.decode_raw(records, tf.uint8)
            n, count = tf.shape(raw)[0], positions * top_k
            v_end, i_end = count * dtype.size, count * (dtype.size + 4)
            top = (n,) + shape[:-1] + (top_k,)
            values = tf.bitcast(tf.reshape(raw[:, :v_end], (n, count, dtype.size)), dtype)
            indices = tf.bitcast(tf.reshape(raw[:, v_end:i_end], (n, count, 4)), tf.int32)
            normalizer = tf.bitcast(tf.reshape(raw[:, i_end:], (n, positions, 4)), tf.float32)
            return reconstruct_top_k(tf.reshape(values, top), tf.reshape(indices, top),
                                     tf.reshape(normalizer, top[:-1]), shape[-1])

        records = tf.data.FixedLengthRecordDataset(
            os.path.join(entry, _LOGITS), meta["record_bytes"], buffer_size=_READ_CHUNK
        )
        if meta["batch_size"]:
            logits = records.batch(meta["batch_size"]).map(decode)
        else:
            logits = records.map(tf.autograph.experimental.do_not_convert(lambda r: decode(r[None])[0]))
        zipped = tf.data.Dataset.zip((dataset, logits)).map(_pack)
        if dataset.cardinality() >= 0:  # Records have no known length; the input does.
            zipped = zipped.apply(tf.data.experimental.assert_cardinality(dataset.cardinality()))
        return zipped.prefetch(tf.data.AUTOTUNE)


@tf.autograph.experimental.do_not_convert
def _pack(element, teacher_logits):
    if not isinstance(element, tuple):
        return element, targets.pack(None, teacher_logits)
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(element)
    packed = (x, targets.pack(y, teacher_logits))
    return packed if sample_weight is None else packed + (sample_weight,)
