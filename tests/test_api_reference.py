"""Every public name has an entry in the API reference."""

import pathlib
import re

import pytest

import keras_acts

# TensorFlow only: checks the docs once, whatever the backend.
pytestmark = pytest.mark.tensorflow_only

API_PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "api.md"


def documented_objects():
    return set(re.findall(r"^::: (keras_acts[\w.]*)", API_PAGE.read_text(), re.M))


def test_every_public_name_has_an_api_entry():
    documented = documented_objects()
    missing = []
    for name in keras_acts.__all__:
        if name == "__version__":
            continue
        if name == "testing":
            missing += [
                f"keras_acts.testing.{function}"
                for function in keras_acts.testing.__all__
                if f"keras_acts.testing.{function}" not in documented
            ]
        elif f"keras_acts.{name}" not in documented:
            missing.append(f"keras_acts.{name}")
    assert missing == []


def test_api_entries_name_real_objects():
    for path in documented_objects():
        module, _, attribute = path.rpartition(".")
        target = keras_acts if module == "keras_acts" else keras_acts.testing
        assert hasattr(target, attribute), path
