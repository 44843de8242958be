"""keras_acts._private_api: each use of a framework's private API works on
the installed versions (so a release that moves one fails here, by name), and
no other module touches one."""

import ast
import pathlib

import keras
import numpy as np
import pytest

from keras_acts import _private_api

BACKEND = keras.backend.backend()
PACKAGE = pathlib.Path(__file__).parent.parent / "keras_acts"


def small_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_a_moved_attribute_fails_with_a_message_that_names_it():
    with pytest.raises(RuntimeError, match=r"`_gone`.*checked on keras 3"):
        _private_api._lookup(object(), "_gone", "a test's")


def test_optimizer_variables_are_those_the_optimizer_was_built_with():
    model = small_model()
    model.optimizer.build(model.trainable_variables)
    variables = _private_api.optimizer_variables(model.optimizer)
    assert [v.path for v in variables] == [v.path for v in model.trainable_variables]


def test_clip_gradients_clips_as_the_optimizer_does():
    gradients = [keras.ops.convert_to_tensor([3.0, 4.0]), None]
    clipped = _private_api.clip_gradients(keras.optimizers.SGD(clipnorm=1.0), gradients)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clipped[0]), [0.6, 0.8])
    assert clipped[1] is None
    unclipped = _private_api.clip_gradients(keras.optimizers.SGD(), gradients)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(unclipped[0]), [3.0, 4.0])


def test_symbolic_build_builds_model_metrics_and_optimizer_without_a_step():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    model = Subclassed()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    batch = (np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), None)
    _private_api.symbolic_build(model, batch)
    assert model.built and [tuple(w.shape) for w in model.weights] == [(3, 2), (2,)]
    assert len(model.metrics_variables) == 4  # loss and mae: totals and counts
    assert model.optimizer.built and int(model.optimizer.iterations) == 0


def test_install_shadows_a_method_and_uninstall_brings_it_back():
    optimizer = keras.optimizers.SGD()
    calls = []
    _private_api.install(optimizer, "apply", lambda *args: calls.append(args))
    optimizer.apply([], [])
    assert calls == [([], [])]
    _private_api.uninstall(optimizer, "apply")
    assert optimizer.apply.__func__ is keras.optimizers.SGD.apply


def test_uninstall_brings_back_a_method_the_instance_had():
    layer = keras.layers.Dense(2)

    def users_call(x):
        return x

    layer.call = users_call
    previous = _private_api.install(layer, "call", lambda x: None)
    _private_api.uninstall(layer, "call", previous)
    assert layer.call is users_call


def test_hidden_state_is_not_tracked_or_saved_with_the_model():
    model = small_model()
    before = len(model.weights)
    _private_api.hide(model, "_test_hidden", keras.Variable(np.zeros(3)))
    assert _private_api.hidden(model, "_test_hidden") is not None
    assert len(model.weights) == before  # setattr would have tracked it


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's optimizers")
def test_tensorflow_optimizers_sum_replica_gradients_in_a_step_of_their_own():
    step = _private_api.all_reduce_sum_gradients(keras.optimizers.SGD())
    assert callable(step)


@pytest.mark.skipif(BACKEND != "jax", reason="Keras's JAX trainer")
def test_jax_trainer_makes_train_functions_and_state_shardings():
    model = small_model()
    x, y = np.ones((4, 3)), np.ones((4, 2))
    model.fit(x, y, verbose=0)  # builds the state
    function = _private_api.make_jax_train_function(model, lambda state, data: None)
    assert callable(function)
    # None without a keras.distribution: Keras then compiles without shardings.
    _private_api.jax_state_sharding_spec(model)


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's traces")
def test_jax_trace_state_tells_a_nested_trace_from_its_parent():
    import jax

    states = {}

    def outer(x):
        states["outer"] = _private_api.jax_trace_state()

        def inner(y):
            states["inner"] = _private_api.jax_trace_state()
            return y

        return jax.lax.cond(x > 0, inner, inner, x)

    jax.jit(outer)(1.0)
    assert states["outer"] != states["inner"]


@pytest.mark.needs_tensorflow
def test_a_distributed_dataset_keeps_its_strategy():
    tf = pytest.importorskip("tensorflow")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(np.ones((4, 2))).batch(2)
    )
    assert _private_api.distributed_dataset_strategy(dataset) is strategy


@pytest.mark.parametrize(
    "name",
    [
        "_foreach_norm",
        "_foreach_mul",
        "_foreach_sub_",
        "_foreach_copy_",
        "_prelu_kernel",
    ],
)
def test_torch_private_functions_exist(name):
    pytest.importorskip("torch")
    assert callable(_private_api.torch_function(name))


def test_is_functional_tells_a_graph_model_from_a_subclassed_one():
    inputs = keras.Input((3,))
    functional = keras.Model(inputs, keras.layers.Dense(2)(inputs))

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    assert _private_api.is_functional(functional)
    assert not _private_api.is_functional(keras.Sequential([inputs]))
    assert not _private_api.is_functional(Subclassed())


def _private_uses(path: pathlib.Path, own: set[str]) -> list[str]:
    """`object.__setattr__` calls, and private attributes read off anything
    but `self`/`cls` that keras_acts does not define itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and node.args[1].value.startswith("_")
            and not node.args[1].value.startswith("__")
            and node.args[1].value not in own
        ):
            found.append((node.lineno, f"{node.func.id} {node.args[1].value}"))
        if not isinstance(node, ast.Attribute):
            continue
        base = node.value
        if (
            node.attr == "__setattr__"
            and isinstance(base, ast.Name)
            and base.id == "object"
        ):
            found.append((node.lineno, "object.__setattr__"))
        private = node.attr.startswith("_") and not node.attr.startswith("__")
        if (
            private
            and not (isinstance(base, ast.Name) and base.id in ("self", "cls"))
            and node.attr not in own
        ):
            found.append((node.lineno, f".{node.attr}"))
    return [f"{path.name}:{line} {use}" for line, use in sorted(found)]


def _own_names() -> set[str]:
    """Every name keras_acts defines: attributes it sets, functions,
    classes, module-level names and its own modules."""
    names = {path.stem for path in PACKAGE.rglob("*.py")}
    names |= {path.name for path in PACKAGE.rglob("*") if path.is_dir()}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return names


def test_no_module_but_private_api_touches_a_framework_private_attribute():
    own = _own_names()
    found = [
        use
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_private_api.py"
        for use in _private_uses(path, own)
    ]
    assert not found, (
        "Private framework API outside keras_acts/_private_api.py (route it "
        f"through that module, with why and the versions checked): {found}"
    )


def test_the_check_sees_a_private_attribute_and_a_patch(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "def f(optimizer, model):\n"
        "    object.__setattr__(model, 'train_step', None)\n"
        "    return optimizer._trainable_variables, getattr(model, '_strategy')\n"
    )
    assert _private_uses(module, set()) == [
        "module.py:2 object.__setattr__",
        "module.py:3 ._trainable_variables",
        "module.py:3 getattr _strategy",
    ]
