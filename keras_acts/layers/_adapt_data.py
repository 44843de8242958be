"""The data `Standardize.adapt` reads, as NumPy batches of `x`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import keras
import numpy as np

# Rows per chunk when adapting on an array: bounds adapt's memory.
DEFAULT_CHUNK_VALUES = 2**20


# Rows per batch of an unbatched dataset, as keras.layers.Normalization.adapt.
UNBATCHED_BATCH_SIZE = 128


def batches(data, batch_size, steps, input_rank=None) -> Iterator[np.ndarray]:
    """Yields batches of x from an array (or nested lists of numbers), a
    tf.data.Dataset or an iterable of batches.

    `input_rank` is the rank of the inputs of a built layer (None before it
    is built): a dataset whose elements have one axis less is unbatched.
    """
    if isinstance(data, tuple):
        data = _inputs_of(data, "data")
    if hasattr(data, "as_numpy_iterator"):  # a tf.data.Dataset
        if _is_unbatched(data, input_rank):
            data = data.batch(batch_size or UNBATCHED_BATCH_SIZE)
        elif batch_size is not None:
            data = data.rebatch(batch_size)
        source: Iterable = data.as_numpy_iterator()
    elif (
        isinstance(data, np.ndarray)
        or hasattr(data, "__array__")
        or (isinstance(data, list) and _holds_numbers(data))
    ):
        array = np.asarray(data)
        if array.ndim < 2 or len(array) == 0:
            raise ValueError(
                "adapt() needs an array of rank >= 2 (batch, ...) with at least "
                f"one row. Received an array of shape {array.shape}"
            )
        rows = batch_size or max(1, DEFAULT_CHUNK_VALUES // max(1, array[0].size))
        source = (array[i : i + rows] for i in range(0, len(array), rows))
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
        source = data
    else:
        raise ValueError(
            "adapt() takes a NumPy array, a tf.data.Dataset or an iterable of "
            f"batches. Received: {type(data).__name__}"
        )
    for step, batch in enumerate(source):
        if steps is not None and step >= steps:
            break
        if isinstance(batch, (tuple, list, dict)):
            batch = _inputs_of(batch, "a batch")
        parts = getattr(batch, "values", None)
        if isinstance(parts, tuple):
            # A distributed dataset's batch: one part per replica.
            batch = np.concatenate([keras.ops.convert_to_numpy(p) for p in parts])
        batch = np.asarray(keras.ops.convert_to_numpy(batch))
        if batch.ndim < 2:
            raise ValueError(
                "adapt() reads batches of rank >= 2 (batch, ...). Received a batch "
                f"of shape {batch.shape}. Pass the rows of one array as a NumPy "
                "array or a list of lists of numbers."
            )
        if not np.issubdtype(batch.dtype, np.floating):
            batch = batch.astype(np.float64)
        yield batch


def _is_unbatched(dataset, input_rank) -> bool:
    """Whether `dataset` yields single examples: vectors, as
    `keras.layers.Normalization.adapt` takes them (a batch has rank >= 2),
    or elements one axis short of a built layer's inputs."""
    spec = _inputs_of(dataset.element_spec, "each element of the dataset")
    rank = spec.shape.rank
    return rank == 1 or (input_rank is not None and rank == input_rank - 1)


def _inputs_of(element, what: str):
    """The inputs of (x, y) or (x, y, sample_weight), as `fit` takes them;
    ValueError for an empty one, or for a dict (one layer standardizes one
    input)."""
    if isinstance(element, (tuple, list)):
        if not element:
            raise ValueError(
                f"adapt() reads x, or (x, y) as `fit` takes them, but {what} is "
                f"empty: {element!r}"
            )
        element = element[0]
    if isinstance(element, dict):
        raise ValueError(
            f"adapt() reads one input, but {what} is a dict with keys "
            f"{sorted(element)}. Adapt the layer on the input it standardizes."
        )
    return element


def _holds_numbers(data: list) -> bool:
    """Whether a list is one array, nested lists of numbers as `fit` reads
    them, rather than a list of batches (arrays, tensors or (x, y) pairs).
    Told by its first leaf alone: NumPy walks a long list of rows anyway."""
    item = data
    while isinstance(item, (list, tuple)) and item:
        item = item[0]
    return np.ndim(item) == 0 and not isinstance(item, (list, tuple, dict))
