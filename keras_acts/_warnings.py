"""Warnings attributed to the user's line.

keras_acts warns from callback hooks, training steps and layers, several
calls below the user's `fit`, `diagnose` or training loop, at a depth that
differs between backends and between `fit` and a custom loop. A fixed
`stacklevel` names a line inside keras_acts or Keras, which the user never
wrote and cannot filter by their own module; this names the first line
outside them.
"""

from __future__ import annotations

import inspect
import warnings

# Packages whose frames lie between the user's call and the warning.
_CALL_MACHINERY = frozenset(
    {"keras_acts", "keras", "keras_hub", "tensorflow", "jax", "jaxlib", "torch"}
    | {"contextlib"}  # a `with` block's exit
)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """`warnings.warn`, attributed to the first caller outside keras_acts,
    Keras and the backends."""
    frame = inspect.currentframe().f_back
    stacklevel = 2
    while frame.f_back is not None and _is_machinery(frame):
        frame = frame.f_back
        stacklevel += 1
    del frame  # a frame kept alive holds every local of the stack
    warnings.warn(message, category, stacklevel=stacklevel)


def _is_machinery(frame) -> bool:
    module = frame.f_globals.get("__name__", "")
    # TensorFlow's autograph runs converted functions from generated modules.
    return module.partition(".")[0] in _CALL_MACHINERY or module.startswith(
        "__autograph_generated"
    )
