"""The warning a monitor gives when it finds a problem."""

from __future__ import annotations


class DiagnosisWarning(RuntimeWarning):
    """A problem that a keras_acts monitor found while training.

    Each is given once per problem and layer in a `fit`. Silence them with
    `warn=False` on the monitor, or with
    `warnings.filterwarnings("ignore", category=keras_acts.DiagnosisWarning)`.
    """
