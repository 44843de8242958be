"""keras_acts._backends is the one place that picks backend-specific code:
no other module branches on the backend, and nothing backend-specific is
imported before it is used."""

import pathlib
import subprocess
import sys

import keras
import pytest

from keras_acts import _backends

PACKAGE = pathlib.Path(__file__).parent.parent / "keras_acts"
# Standardize takes TensorFlow tensors from a tf.data pipeline under any
# backend: it asks about its inputs' kind, not about the backend in use.
INPUT_KIND_CHECK = PACKAGE / "layers" / "standardize.py"


def test_no_module_but_the_seam_asks_for_the_backend():
    asking = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "backend.backend()" in path.read_text()
        and path not in (PACKAGE / "_backends" / "__init__.py", INPUT_KIND_CHECK)
    ]
    assert asking == []


def test_the_seam_loads_the_backend_in_uses_modules():
    backend = keras.backend.backend()
    autodiff = _backends.module("autodiff")
    assert autodiff.__name__ == f"keras_acts._backends.{backend}.autodiff"
    assert _backends.module("channel").Channel.__module__.endswith(f"{backend}.channel")
    kernels = _backends.module("kernels")
    # JAX runs the keras.ops versions of the fused ops: it has no kernels.
    assert (kernels is None) == (backend == "jax")


def test_an_unknown_part_is_refused():
    with pytest.raises(ValueError, match=r"`part` must be one of .*part='kernel'"):
        _backends.module("kernel")


def test_importing_keras_acts_loads_no_backend_module():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, keras_acts; "
            "print(sorted(m for m in sys.modules if m.startswith("
            "'keras_acts._backends.')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]"
