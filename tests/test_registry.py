"""One registry of layers (keras_acts/layers/_registry.py): the package's
exports, the monitors' lists, the demo's and the command line's choices all
agree with it, and every layer in it is exported and registered for loading
saved models."""

import importlib
import inspect
import pathlib
import pkgutil

import keras
import pytest

import keras_acts
import keras_acts_cli as cli
from keras_acts import demo, layers
from keras_acts.layers import _registry

NAMES = [layer.name for layer in _registry.LAYERS]


def test_names_are_unique():
    assert len(set(NAMES)) == len(NAMES)


def test_the_packages_exports_are_the_registrys():
    assert layers.__all__ == NAMES
    exported = [name for name in keras_acts.__all__ if name in NAMES]
    assert exported == NAMES


@pytest.mark.parametrize("layer", _registry.LAYERS, ids=NAMES)
def test_each_layer_is_exported_from_its_module_and_registered(layer):
    module = importlib.import_module(f"keras_acts.layers.{layer.module}")
    layer_class = getattr(module, layer.name)
    assert getattr(layers, layer.name) is layer_class
    assert getattr(keras_acts, layer.name) is layer_class
    assert issubclass(layer_class, keras.layers.Layer)
    registered = f"keras_acts>{layer.name}"
    assert keras.saving.get_registered_name(layer_class) == registered
    assert keras.saving.get_registered_object(registered) is layer_class


def test_every_public_layer_of_the_package_is_registered():
    found = set()
    for info in pkgutil.iter_modules(layers.__path__):
        if info.name.startswith("_"):
            # A public layer has a public module of its own; the private
            # ones are helpers (_tf_data imports TensorFlow on any backend).
            continue
        module = importlib.import_module(f"keras_acts.layers.{info.name}")
        for name, value in inspect.getmembers(module, inspect.isclass):
            if (
                not name.startswith("_")
                and issubclass(value, keras.layers.Layer)
                and value.__module__ == module.__name__
            ):
                found.add(name)
    assert found == set(NAMES)


def test_the_monitors_lists():
    activations = [layer for layer in _registry.LAYERS if layer.activation]
    assert layers.ACTIVATION_LAYERS == {
        getattr(layers, layer.name): layer.name for layer in activations
    }
    assert layers.Standardize not in layers.ACTIVATION_LAYERS
    assert set(layers.LEARNED_ACTIVATION_LAYERS) == {
        layers.PReLU,
        layers.ParametricELU,
        layers.PELU,
        layers.SReLU,
        layers.Swish,
        layers.Snake,
        layers.Rational,
    }
    assert set(layers.LEARNED_ACTIVATION_LAYERS) <= set(layers.ACTIVATION_LAYERS)


def test_the_demo_and_the_command_line_offer_the_registrys_choices():
    offered = [layer.name for layer in _registry.LAYERS if layer.demo]
    assert demo.ACTIVATIONS == (*_registry.DEMO_KERAS_ACTIVATIONS, *offered)
    assert tuple(demo.HIDDEN_BLOCKS) == demo.ACTIVATIONS
    assert cli.DEMO_ACTIVATIONS == demo.ACTIVATIONS
    assert cli.DEMO_DEFAULT_ACTIVATIONS == demo.DEFAULT_ACTIVATIONS
    for layer in _registry.LAYERS:
        assert layer.demo in (None, _registry.AFTER_DENSE, _registry.AS_DENSE)


def test_the_demo_keeps_its_choices():
    assert ",".join(demo.ACTIVATIONS) == (
        "sigmoid,tanh,relu,PReLU,ParametricELU,MaxoutDense,Swish,PELU,SReLU,Snake,RReLU"
    )
    assert demo.DEFAULT_ACTIVATIONS == demo.ACTIVATIONS[:6]


def test_the_api_reference_finds_each_layer_without_running_the_package():
    # Griffe (mkdocstrings) reads the imports as written: why keras_acts/layers
    # writes them out rather than generating them from the registry.
    griffe = pytest.importorskip("griffe")
    root = pathlib.Path(__file__).resolve().parents[1]
    package = griffe.load("keras_acts", search_paths=[str(root)])
    for layer in _registry.LAYERS:
        found = package[layer.name].final_target
        assert found.path == f"keras_acts.layers.{layer.module}.{layer.name}"
