"""Problems the monitors find, each said in one line: what is wrong, where,
how bad, and what to try, with the docs page that explains it."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

from keras_acts.callbacks.diagnosis_warning import DiagnosisWarning
from keras_acts.callbacks.flag import Flag

GRADIENT_KINDS = ("nonfinite", "exploding", "vanishing", "stalled")
ACTIVATION_KINDS = ("dead", "saturated", "off_center", "inputs_off_center")
KINDS = GRADIENT_KINDS + ACTIVATION_KINDS


def check_warn(warn: bool | Sequence[str], kinds: Sequence[str]) -> frozenset[str]:
    """The kinds of flag to warn about, from a monitor's `warn` argument."""
    if isinstance(warn, bool):
        return frozenset(kinds if warn else ())
    if isinstance(warn, str) or not isinstance(warn, Iterable):
        raise ValueError(
            "`warn` must be True, False or a list of flag kinds from "
            f"{tuple(kinds)}. Received: warn={warn!r}"
        )
    warn = list(warn)
    unknown = [kind for kind in warn if kind not in kinds]
    if unknown:
        raise ValueError(
            f"`warn` names unknown flag kinds {unknown}; expected kinds from "
            f"{tuple(kinds)}. Received: warn={warn!r}"
        )
    return frozenset(warn)


class LiveWarnings:
    """Warns of each flag the first time it appears in a `fit`: once per kind
    and layer."""

    def __init__(self, kinds: frozenset[str]) -> None:
        self.kinds = kinds
        self._given: set[tuple[str, str]] = set()

    def give(self, flags: Iterable[Flag], monitor: str) -> None:
        for flag in flags:
            key = (flag.kind, flag.layer)
            if flag.kind in self.kinds and key not in self._given:
                self._given.add(key)
                warnings.warn(f"{monitor}: {flag}", DiagnosisWarning, stacklevel=4)


def report(title: str, flags: list[Flag]) -> str:
    """The lines under a monitor's summary table."""
    if not flags:
        return f"{title}: no problems found."
    return "\n".join([f"{title}:"] + [f"- {flag}" for flag in flags])
