"""The monitors' default schedule, freq="auto": which blocks of steps the
`Budget` records, on a clock the test sets, and what a fit records with
it."""

import keras
import numpy as np
import pytest
from helpers import data, fit
from test_gradient_monitor import small_model

from keras_acts import ActivationMonitor, GradientMonitor
from keras_acts.callbacks._schedule import Budget, ProbeBudget, Schedule, check_freq


class FakeClock:
    """Recorded blocks take `recorded` seconds, plain ones `plain`."""

    def __init__(self, recorded: float, plain: float) -> None:
        self.recorded, self.plain = recorded, plain
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def recorded_blocks(budget: Budget, clock: FakeClock, blocks: int) -> list[int]:
    recorded = []
    for block in range(blocks):
        records = budget.begin_block()
        clock.now += clock.recorded if records else clock.plain
        budget.end_block()
        if records:
            recorded.append(block)
    return recorded


def test_freq_auto_is_accepted_and_other_names_are_not():
    assert check_freq("auto") == "auto"
    assert Schedule("auto").period == 1
    with pytest.raises(ValueError, match="Received: freq='sometimes'"):
        check_freq("sometimes")


def test_the_first_blocks_are_recorded_then_the_gap_doubles_to_the_budget():
    # Recording adds half a plain block: 0.5 / 0.03 = 16.7 blocks, so a
    # record every 32 keeps within 3%; the ramp's 64 is kept (within a
    # factor of two).
    clock = FakeClock(recorded=1.5, plain=1.0)
    budget = Budget(budget=0.03, clock=clock)
    recorded = recorded_blocks(budget, clock, 200)
    assert recorded == [*range(10), 10, 12, 16, 32, 64, 128, 192]
    assert budget.gap == 64


def test_cheap_recording_records_often_and_never_two_blocks_running():
    clock = FakeClock(recorded=1.001, plain=1.0)
    recorded = recorded_blocks(Budget(budget=0.03, clock=clock), clock, 220)
    later = [block for block in recorded if block >= 16]
    # Three records timed by block 65; then halved at each record down to
    # 4, within a factor of two of every other block.
    assert later == [16, 32, 64, 128, 160, 176, 184, 188, *range(192, 220, 4)]


def test_the_gap_follows_the_cost_down_when_recording_gets_cheaper():
    clock = FakeClock(recorded=2.0, plain=1.0)
    budget = Budget(budget=0.03, window=3, clock=clock)
    recorded_blocks(budget, clock, 300)
    assert budget.gap == 64  # 1.0 / 0.03 = 33.3 blocks
    clock.recorded = 1.1  # 0.1 / 0.03 = 3.3 blocks: a gap of 4 suffices
    recorded_blocks(budget, clock, 1000)
    assert budget.gap == 8  # within a factor of two


def test_a_load_that_comes_and_goes_cancels_out():
    # Every block takes 1 s more from block 40 on, recorded or not: the
    # cost is still measured as half a block.
    clock = FakeClock(recorded=1.5, plain=1.0)
    budget = Budget(budget=0.03, clock=clock)
    recorded = []
    for block in range(200):
        if block == 40:
            clock.recorded, clock.plain = 2.5, 2.0
        records = budget.begin_block()
        clock.now += clock.recorded if records else clock.plain
        budget.end_block()
        if records:
            recorded.append(block)
    # 0.5 s of 2 s: 0.25 / 0.03 = 8.3 blocks, so 16 would do; 32 is kept
    # (within a factor of two). Recorded blocks against plain ones from
    # either side of the jump would see recording as free, and record every
    # other block.
    assert budget.gap == 32
    assert [block for block in recorded if block > 32] == [64, 128, 160, 192]


def test_a_slow_plain_block_after_each_record_counts_as_its_cost():
    # On JAX the first plain block after a recorded one takes a step more.
    clock = FakeClock(recorded=1.0, plain=1.0)
    budget = Budget(budget=0.03, clock=clock)
    previous = False
    for _ in range(300):
        records = budget.begin_block()
        clock.now += 1.0 + (1.0 if previous and not records else 0.0)
        budget.end_block()
        previous = records
    assert budget.gap == 64  # 1.0 / 0.03 = 33.3 blocks


def test_a_slow_first_block_of_each_kind_is_outvoted():
    # The first recorded and the first plain block also trace their function.
    clock = FakeClock(recorded=1.5, plain=1.0)
    budget = Budget(budget=0.03, clock=clock)
    recorded = []
    for block in range(100):
        records = budget.begin_block()
        clock.now += clock.recorded if records else clock.plain
        if block in (0, 11):  # the first of each kind: 100 times as long
            clock.now += 100.0
        budget.end_block()
        if records:
            recorded.append(block)
    assert recorded == [*range(10), 10, 12, 16, 32, 64]


def test_a_default_monitor_records_the_first_steps_then_fewer():
    # 16 steps: steps 0-9 and the ramp's first records, whatever the clock
    # says (fewer than three records were timed).
    monitor = GradientMonitor()
    assert monitor.freq == "auto"
    fit(small_model(), monitor, *data(samples=128))
    steps = sorted({row["step"] for row in monitor.history})
    assert steps == [*range(11), 12]


def test_auto_and_an_integer_freq_share_one_model():
    # Step 14 is recorded for the other monitor only.
    every_seventh, auto = GradientMonitor(freq=7), GradientMonitor()
    fit(small_model(), [auto, every_seventh], *data(samples=128))
    assert sorted({r["step"] for r in auto.history}) == [*range(11), 12]
    assert sorted({r["step"] for r in every_seventh.history}) == [0, 7, 14]


def test_a_custom_loop_records_every_step_with_auto():
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = data()
    monitor = GradientMonitor()
    with monitor.attach(model):
        for _ in range(3):
            model.train_on_batch(x, y)
    assert sorted({r["step"] for r in monitor.history}) == [0, 1, 2]


def probed_blocks(budget: ProbeBudget, clock: FakeClock, blocks: int) -> list[int]:
    """Probes (`clock.recorded` seconds) before the blocks that `budget`
    picks; blocks take `clock.plain`."""
    probed = []
    for block in range(blocks):
        if budget.due():
            clock.now += clock.recorded
            budget.probed(clock.recorded)
            probed.append(block)
        budget.begin_block()
        clock.now += clock.plain
        budget.end_block()
    return probed


def test_the_first_probes_come_first_then_the_later_ones_within_the_budget():
    # A probe as long as a step, at 1%: one every 100 blocks after the first
    # three, which are not counted.
    clock = FakeClock(recorded=1.0, plain=1.0)
    budget = ProbeBudget(budget=0.01, clock=clock)
    assert probed_blocks(budget, clock, 450) == [0, 2, 4, 100, 200, 300, 400]


def test_the_foreseen_cost_follows_the_probes():
    clock = FakeClock(recorded=0.5, plain=1.0)
    budget = ProbeBudget(budget=0.01, window=3, clock=clock)
    assert probed_blocks(budget, clock, 200) == [0, 2, 4, 50, 100, 150]
    clock.recorded = 2.0  # once the last three took 2 s, one every 200 blocks
    later = probed_blocks(budget, clock, 1400)
    assert list(np.diff(later[-4:])) == [200, 200, 200]


def test_a_default_activation_monitor_probes_the_first_steps_then_fewer():
    x, y = data(samples=8 * 20)
    monitor = ActivationMonitor((x, y))
    assert monitor.freq == "auto"
    fit(small_model(), monitor, x, y)  # 20 steps
    # A probe of the tiny model takes longer than 1% of 16 steps.
    assert sorted({row["step"] for row in monitor.history}) == [0, 2, 4]
