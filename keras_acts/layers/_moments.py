"""The statistics of `Standardize.adapt`: moments merged batch by batch in
float64, and across the workers of a multi-worker strategy."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from keras_acts import _private_api


class RunningMoments:
    """Count, mean and sum of squared deviations per statistic index, merged
    batch by batch with the parallel formula of Chan, Golub and LeVeque, in
    float64: exact for data far from zero, where E[x^2] - E[x]^2 cancels."""

    def __init__(self, reduce_axes: tuple[int, ...], skip_nonfinite: bool) -> None:
        self.reduce_axes = reduce_axes
        self.skip_nonfinite = skip_nonfinite
        self.count = None
        self.mean = None
        self.m2 = None
        self.nonfinite = 0

    def update(self, batch: np.ndarray) -> None:
        axes = self.reduce_axes
        # Sums in float64 straight from the batch's own dtype: no float64 copy
        # of the batch. Only a batch with a NaN or an Inf, or whose float64
        # sum overflows (finite values near the float64 maximum), takes the
        # slower path. Overflows further on leave an Inf or a NaN in the
        # statistics, which the layer refuses to store.
        with np.errstate(invalid="ignore", over="ignore"):
            total = np.sum(batch, axis=axes, keepdims=True, dtype=np.float64)
            if np.all(np.isfinite(total)):
                per_index = np.prod([batch.shape[a] for a in axes], dtype=np.float64)
                count = np.full(total.shape, per_index)
                mean = total / per_index
                deviations = np.subtract(batch, mean, dtype=np.float64)
            else:
                finite = np.isfinite(batch)
                nonfinite = int(finite.size - np.count_nonzero(finite))
                self.nonfinite += nonfinite
                if nonfinite and not self.skip_nonfinite:
                    return  # keep counting the bad values; adapt raises at the end
                count = finite.sum(axis=axes, keepdims=True, dtype=np.float64)
                kept = np.where(finite, batch, 0).astype(np.float64)
                # Divided before summing, so that the mean of finite values
                # does not overflow.
                mean = (kept / np.maximum(count, 1)).sum(axis=axes, keepdims=True)
                deviations = np.where(finite, kept - mean, 0.0)
            np.multiply(deviations, deviations, out=deviations)
            self.merge(count, mean, deviations.sum(axis=axes, keepdims=True))

    def merge(self, count: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        """Adds the moments of other data."""
        if self.count is None:
            self.count, self.mean, self.m2 = count, mean, m2
            return
        total_count = self.count + count
        delta = mean - self.mean
        weight = count / np.maximum(total_count, 1)
        self.mean = self.mean + delta * weight
        self.m2 = self.m2 + m2 + delta * delta * self.count * weight
        self.count = total_count


def distribution_strategy(data) -> Any:
    """The tf.distribute strategy of a distributed dataset, else None."""
    tf = sys.modules.get("tensorflow")  # no distributed dataset without it
    if tf is None or not isinstance(data, tf.distribute.DistributedDataset):
        return None
    return _private_api.distributed_dataset_strategy(data)


def merge_across_workers(strategy, moments: RunningMoments) -> None:
    """Under a multi-worker strategy each worker reads only its own shard of
    a distributed dataset: gathers every worker's moments and merges them, so
    that all workers get the statistics of the whole dataset."""
    local_replicas = len(strategy.extended.worker_devices)
    if strategy.num_replicas_in_sync == local_replicas:
        return  # one worker: it has read everything
    import tensorflow as tf

    shape = moments.count.shape
    local = np.stack(
        [
            moments.count.ravel(),
            moments.mean.ravel(),
            moments.m2.ravel(),
            np.full(moments.count.size, float(moments.nonfinite)),
        ]
    )
    values = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant(local[np.newaxis])
    )
    # One row per replica; a worker's replicas are consecutive and each
    # carries that worker's moments.
    rows = strategy.gather(values, axis=0).numpy()[::local_replicas]
    moments.count = moments.mean = moments.m2 = None
    moments.nonfinite = 0
    for count, mean, m2, nonfinite in rows:
        moments.merge(count.reshape(shape), mean.reshape(shape), m2.reshape(shape))
        moments.nonfinite += int(nonfinite[0])
