"""The backend seam: the one place where keras_acts picks the code written
for the Keras backend in use.

Each backend has a package beside this file (`tensorflow`, `jax`, `torch`)
with up to three modules:

- `autodiff`: gradients by the backend's own automatic differentiation
  (`value_and_gradients`, `hessian_vector_product`, `compiled`,
  `float64_scope`), for the ActivationMonitor's probes and
  `keras_acts.testing`, and, where `keras.ops.custom_gradient` falls short,
  a `custom_gradient` of its own for the layers' ops;
- `channel`: how GradientMonitor's records leave the training step;
- `kernels`: the fused activations that the backend runs faster in its own
  ops than in `keras.ops` (a backend without one uses `keras.ops`).

`module(part)` imports the module of the backend in use on first use, so
`import keras_acts` imports no framework, and nothing else in the package
branches on the backend.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import warnings
from types import ModuleType

import keras
import numpy as np

SUPPORTED = ("tensorflow", "jax", "torch")
PARTS = ("autodiff", "channel", "kernels")


def name() -> str:
    """The Keras backend in use; ValueError if keras_acts does not run on it."""
    backend = keras.backend.backend()
    if backend not in SUPPORTED:
        raise ValueError(
            f"keras_acts runs on the {', '.join(SUPPORTED)} backends. "
            f"Received: backend={backend!r}"
        )
    return backend


def module(part: str) -> ModuleType | None:
    """The backend in use's module for `part` (one of `PARTS`), or None where
    that backend has none (it then uses the `keras.ops` version)."""
    if part not in PARTS:
        raise ValueError(f"`part` must be one of {PARTS}. Received: part={part!r}")
    return _load(name(), part)


@functools.cache
def _load(backend: str, part: str) -> ModuleType | None:
    qualified = f"{__name__}.{backend}.{part}"
    if importlib.util.find_spec(qualified) is None:
        return None
    return importlib.import_module(qualified)


def to_numpy(value) -> np.ndarray:
    """`keras.ops.convert_to_numpy`, without the DeprecationWarning that numpy
    2 gives for each TensorFlow variable or PyTorch tensor it converts (their
    `__array__` takes no `copy` argument): the monitors convert at every
    record, and a warning per step would bury the user's own."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="__array__ implementation doesn't accept a copy keyword",
            category=DeprecationWarning,
        )
        return np.asarray(keras.ops.convert_to_numpy(value))
