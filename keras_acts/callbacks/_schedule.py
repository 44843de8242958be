"""When the monitors record, and what their `step` means.

Both monitors share one meaning of `step`: the optimizer's `iterations` when
the training step began, i.e. the number of updates applied before it (0 for
the first update ever; it continues across `fit` calls and after loading a
saved model). GradientMonitor's record at step `s` holds the gradient computed
at the weights after `s` updates; ActivationMonitor's record at step `s`
probes those same weights. Their rows join on `step`.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from keras_acts import _validation

NAMED_FREQS = ("auto", "epoch")
# The schedule goes into the traced step as a 32-bit integer on every
# backend (JAX's default), beside the optimizer's step count.
MAX_FREQ = 2**31 - 1


def check_freq(freq: Any) -> int | str:
    """`freq` as a Python int, "auto" or "epoch"; ValueError for anything
    else."""
    if isinstance(freq, str) and freq in NAMED_FREQS:
        return freq
    try:
        freq = _validation.positive_integer("freq", freq)
        if freq > MAX_FREQ:
            raise ValueError
        return freq
    except ValueError:
        raise ValueError(
            f'`freq` must be a positive integer up to {MAX_FREQ}, "auto" or '
            f'"epoch". Received: freq={freq!r}'
        ) from None


class Schedule:
    """Every `freq` optimizer steps (the steps divisible by `freq`); with
    `freq="epoch"` the first step of each epoch; with `freq="auto"` the
    blocks of steps that a `Budget` picks on the host (every step of
    them)."""

    def __init__(self, freq: int | str) -> None:
        self.freq = check_freq(freq)

    @property
    def per_epoch(self) -> bool:
        return self.freq == "epoch"

    @property
    def auto(self) -> bool:
        return self.freq == "auto"

    @property
    def period(self) -> int:
        """`freq` as a number of steps: 1 for "auto" (the host decides which
        blocks run the recording step), 0 for "epoch"."""
        if self.per_epoch:
            return 0
        return 1 if self.auto else self.freq

    def first_due(self, first: int, count: int) -> int | None:
        """The first due step among `first, ..., first + count - 1`, for an
        integer `freq` (or "auto", as every step); None if there is none."""
        due = -(-first // self.period) * self.period
        return due if due < first + count else None


class _TimedBlocks:
    """What both budgets share: the blocks of steps ended so far in this fit,
    and the time of the block begun last, on `clock`."""

    def __init__(self, budget: float, first: Any, clock: Callable[[], float]) -> None:
        self.budget = budget
        self.first = first
        self.clock = clock
        self.blocks = 0
        self._began: float | None = None

    def begin_block(self) -> None:
        self._began = self.clock()

    def _block_seconds(self) -> float | None:
        """Ends the timing of the block begun last: its seconds, or None if
        none was begun."""
        if self._began is None:
            return None
        seconds = self.clock() - self._began
        self._began = None
        return seconds


class Budget(_TimedBlocks):
    """The host's choice of the blocks of steps that `freq="auto"` records:
    the first `first` blocks of each fit, then as often as keeps the time
    that recording adds within `budget` of the time of a plain block.

    The time of each block (from the monitor's batch begin to its batch end)
    is measured with `clock`; the cost of a record is the median, over the
    last `window` records, of the time of the recorded block and of the
    plain block after it, less twice that of the last plain block that
    followed a plain one (neighbours, so that a load that comes and goes on
    a shared machine cancels out; the block after a record, since on JAX
    the first plain block after the recording one takes about a step more;
    medians, since the first block of each kind also traces its function),
    against the median plain block that followed a plain one. After the
    first blocks the gap between records doubles at each record, up to the
    gap the budget allows, a power of two, which it follows once three
    records were timed; the records fall on the blocks
    whose index the gap divides, so that a fit's recorded steps change only
    when the measured cost moves by a factor of two or more. At least every
    other block runs plain, to keep measuring it.
    """

    def __init__(
        self,
        budget: float = 0.03,
        first: int = 10,
        clock: Callable[[], float] = time.perf_counter,
        window: int = 15,
    ) -> None:
        super().__init__(budget, first, clock)
        self.gap = 1
        self._extra: deque[float] = deque(maxlen=window)
        self._plain: deque[float] = deque(maxlen=window)  # after plain ones
        self._record_seconds: float | None = None  # the block just before
        self._recording = False

    def due(self) -> bool:
        """Whether the next block records."""
        return self.blocks < self.first or self.blocks % self.gap == 0

    def begin_block(self) -> bool:
        """Starts timing the block about to run; returns whether it records."""
        self._recording = self.due()
        super().begin_block()
        return self._recording

    def end_block(self) -> None:
        """Ends the block begun last, and sets the gap after a record."""
        seconds = self._block_seconds()
        if seconds is None:
            return
        if self._recording:
            self._record_seconds = seconds
        elif self._record_seconds is not None:
            if self._plain:
                self._extra.append(self._record_seconds + seconds - 2 * self._plain[-1])
            self._record_seconds = None
        else:
            self._plain.append(seconds)
        self.blocks += 1
        if self._recording and self.blocks >= self.first:
            allowed = self.allowed_gap()
            if allowed > self.gap:
                self.gap *= 2
            elif allowed <= self.gap // 4:
                # Halved, not set: one noisy measurement moves it one step.
                self.gap //= 2

    def allowed_gap(self) -> float:
        """The smallest gap, a power of two and at least 2, at which the
        measured cost of recording is within the budget; infinite (the ramp
        goes on doubling) until three records were timed."""
        if len(self._extra) < 3:
            return math.inf
        plain = statistics.median(self._plain)
        extra = statistics.median(self._extra)
        if extra <= 0 or plain <= 0:
            return 2
        needed = extra / (self.budget * plain)
        return max(2, 2 ** math.ceil(math.log2(max(needed, 1))))


class ProbeBudget(_TimedBlocks):
    """When ActivationMonitor probes with `freq="auto"`: before the blocks of
    steps `first` (the first steps, for an early diagnosis), then before a
    block whenever the later probes, with one more (foreseen to take the
    median of the last `window` probes), still take at most `budget` of the
    time that the blocks of the fit took. The first probes are not counted
    against the budget: what a fit pays beyond it is their fixed cost."""

    def __init__(
        self,
        budget: float,
        first: tuple[int, ...] = (0, 2, 4),
        clock: Callable[[], float] = time.perf_counter,
        window: int = 15,
    ) -> None:
        super().__init__(budget, first, clock)
        self._probes: deque[float] = deque(maxlen=window)
        self._spent = 0.0  # by the probes after the first ones
        self._trained = 0.0  # by the blocks

    def due(self) -> bool:
        """Whether to probe before the next block."""
        if self.blocks in self.first:
            return True
        if self.blocks < max(self.first) or not self._probes:
            return False
        foreseen = statistics.median(self._probes)
        return self._spent + foreseen <= self.budget * self._trained

    def probed(self, seconds: float) -> None:
        """Counts a probe of `seconds` made before the next block."""
        self._probes.append(seconds)
        if self.blocks not in self.first:
            self._spent += seconds

    def end_block(self) -> None:
        seconds = self._block_seconds()
        if seconds is not None:
            self._trained += seconds
        self.blocks += 1


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

    def full_block_end(self) -> int:
        """The last batch index of the block begun last, were it whole."""
        return self._block_begin + self.steps_per_execution - 1

    def end_block(self, batch: int) -> tuple[int, int]:
        """Advances past the block that ended at `batch`; returns the block's
        first step and its number of steps."""
        first = self.iterations
        count = batch - self._block_begin + 1
        self.iterations += count
        return first, count
