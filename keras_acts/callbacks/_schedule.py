"""When the monitors record, and what their `step` means.

Both monitors share one meaning of `step`: the optimizer's `iterations` when
the training step began, i.e. the number of updates applied before it (0 for
the first update ever; it continues across `fit` calls and after loading a
saved model). GradientMonitor's record at step `s` holds the gradient computed
at the weights after `s` updates; ActivationMonitor's record at step `s`
probes those same weights. Their rows join on `step`.
"""

from __future__ import annotations

from typing import Any

from keras_acts import _validation


def check_freq(freq: Any) -> int | str:
    """`freq` as a Python int, or "epoch"; ValueError for anything else."""
    if isinstance(freq, str) and freq == "epoch":
        return freq
    try:
        return _validation.positive_integer("freq", freq)
    except ValueError:
        raise ValueError(
            f'`freq` must be a positive integer or "epoch". Received: freq={freq!r}'
        ) from None


class Schedule:
    """Every `freq` optimizer steps (the steps divisible by `freq`), or with
    `freq="epoch"` the first step of each epoch."""

    def __init__(self, freq: int | str) -> None:
        self.freq = check_freq(freq)

    @property
    def per_epoch(self) -> bool:
        return self.freq == "epoch"

    @property
    def period(self) -> int:
        """`freq` as a number of steps; 0 for "epoch"."""
        return 0 if self.per_epoch else self.freq

    def first_due(self, first: int, count: int) -> int | None:
        """The first due step among `first, ..., first + count - 1`, for an
        integer `freq`; None if there is none."""
        due = -(-first // self.freq) * self.freq
        return due if due < first + count else None


class StepClock:
    """The host's count of optimizer steps, kept from the batch indices that
    `fit` hands to the callbacks, so that deciding whether a block of steps
    holds a record costs no read from the device.

    The count is exact when each batch is one optimizer update; it runs ahead
    of `optimizer.iterations` when steps are skipped (a `LossScaleOptimizer`
    on a non-finite step) or accumulated (`gradient_accumulation_steps`).
    """

    def __init__(self, iterations: int, steps_per_execution: int) -> None:
        self.iterations = iterations
        self.steps_per_execution = steps_per_execution
        self._block_begin = 0

    def begin_block(self, batch: int) -> None:
        self._block_begin = batch

    def end_block(self, batch: int) -> tuple[int, int]:
        """Advances past the block that ended at `batch`; returns the block's
        first step and its number of steps."""
        first = self.iterations
        count = batch - self._block_begin + 1
        self.iterations += count
        return first, count
