"""The `keras-acts` command line: version, help without Keras, argument errors
before any training, the --plot path, and the package metadata."""

import argparse
import importlib.metadata
import importlib.util
import os
import pathlib
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_acts
import keras_acts_cli as cli
from keras_acts_cli import build_parser, main, resolve_plot_path

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHILD_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

# Runs `cli.main(argv)` for each argv in a fresh interpreter and prints whether
# Keras or TensorFlow got imported. {load} binds `main`.
HELP_WITHOUT_KERAS = """
import sys
{load}
for argv in (["--help"], ["demo", "--help"], ["--version"]):
    try:
        main(argv)
    except SystemExit as exit:
        assert exit.code == 0, (argv, exit.code)
print("IMPORTED", sorted({{"keras", "tensorflow"}} & set(sys.modules)))
"""


def _run_child(code):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=CHILD_ENV,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_version_prints_the_package_version():
    result = subprocess.run(
        [sys.executable, "-m", "keras_acts", "--version"],
        capture_output=True,
        text=True,
        timeout=300,
        env=CHILD_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"keras-acts {keras_acts.__version__}"


def test_version_is_read_without_importing_the_package():
    assert cli.package_version() == keras_acts.__version__


def test_console_script_help_and_version_import_neither_keras_nor_tensorflow():
    # The installed entry point, as `keras-acts --help` runs it: no Keras, so
    # no backend log lines either (the child keeps TensorFlow's logging on).
    (entry,) = [
        entry
        for entry in importlib.metadata.entry_points(group="console_scripts")
        if entry.name == "keras-acts"
    ]
    module, function = entry.value.split(":")
    load = f"from {module} import {function} as main"
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", HELP_WITHOUT_KERAS.format(load=load)],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: keras-acts demo" in result.stdout
    assert "IMPORTED []" in result.stdout
    assert result.stderr == ""


def _all_actions(parser):
    for action in parser._actions:
        yield parser, action
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                yield from _all_actions(subparser)


def test_every_option_of_every_command_has_help():
    actions = list(_all_actions(build_parser()))
    options = {
        (parser.prog, option)
        for parser, action in actions
        for option in action.option_strings
    }
    assert ("keras-acts demo", "--seed") in options
    assert ("keras-acts", "--version") in options
    missing = [
        (parser.prog, action.option_strings or action.dest)
        for parser, action in actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert not missing


def test_the_static_activation_list_is_the_demos():
    from keras_acts.demo import ACTIVATIONS, DEFAULT_ACTIVATIONS

    assert cli.DEMO_ACTIVATIONS == tuple(ACTIVATIONS)
    assert cli.DEMO_DEFAULT_ACTIVATIONS == tuple(DEFAULT_ACTIVATIONS)


def test_plot_directory_gets_gradient_flow_png(tmp_path):
    assert resolve_plot_path(tmp_path) == tmp_path / "gradient_flow.png"
    assert resolve_plot_path(str(tmp_path)) == tmp_path / "gradient_flow.png"
    assert resolve_plot_path(tmp_path / "flow.png") == tmp_path / "flow.png"
    args = build_parser().parse_args(["demo", "--plot", str(tmp_path)])
    assert args.plot == tmp_path / "gradient_flow.png"


@pytest.mark.parametrize("name", ["missing/flow.png", "missing/"])
def test_plot_in_a_missing_folder_is_an_error_naming_it(tmp_path, name):
    path = str(tmp_path / name) + ("/" if name.endswith("/") else "")
    with pytest.raises(argparse.ArgumentTypeError, match="missing"):
        resolve_plot_path(path)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--plot", "{tmp}/missing/flow.png"], "does not exist"),
        (["--plot", "/proc/x.png"], "cannot write '/proc/x.png'"),
        (["--plot", "{tmp}/flow.txt"], "matplotlib writes no .txt files"),
        (["--plot", "{tmp}/flow.png", "--no-plot"], "not allowed with --no-plot"),
        (["--activations", "relu,relu"], "relu appears more than once"),
        (["--activations", "relu,tanh,PReLU,tanh"], "tanh appears more than once"),
        (["--steps", "ten"], "expected an integer"),
        (["--steps", "0"], ">= 1"),
        (["--steps", "-3"], ">= 1"),
        (["--seed", "-1"], "from 0 to"),
        (["--seed", "1.5"], "expected an integer"),
    ],
)
def test_bad_arguments_fail_at_once_without_training(
    tmp_path, monkeypatch, capsys, argv, message
):
    import keras_acts.demo

    def no_training(*args, **kwargs):
        raise AssertionError("run_demo called")

    monkeypatch.setattr(keras_acts.demo, "run_demo", no_training)
    argv = ["demo", *(part.format(tmp=tmp_path) for part in argv)]
    start = time.perf_counter()
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert time.perf_counter() - start < 5
    error = capsys.readouterr().err
    assert f"argument {argv[1]}" in error and message in error
    if "missing" in argv[2]:
        assert str(tmp_path / "missing") in error


def test_main_passes_the_resolved_plot_path(tmp_path, monkeypatch):
    import keras_acts.demo

    calls = []
    monkeypatch.setattr(
        keras_acts.demo, "run_demo", lambda *a, **kw: calls.append((a, kw))
    )
    argv = ["demo", "--steps", "5", "--seed", "0", "--activations", "relu"]
    assert main([*argv, "--plot", str(tmp_path)]) == 0
    assert main([*argv, "--no-plot"]) == 0
    (args, first), (_, second) = calls
    assert args == (["relu"],)
    assert first == {
        "steps": 5,
        "seed": 0,
        "plot_path": tmp_path / "gradient_flow.png",
    }
    assert second["plot_path"] is None


def test_installed_metadata_says_apache_2():
    try:
        metadata = importlib.metadata.metadata("keras-acts")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("keras-acts is not installed (pip install -e .)")
    license = metadata.get("License-Expression") or metadata.get("License")
    assert license == "Apache-2.0"


def test_a_plot_path_is_probed_and_left_as_it_was(tmp_path):
    # The check opens the file: it must not leave an empty one behind, nor
    # empty an existing one.
    assert resolve_plot_path(tmp_path / "new.png") == tmp_path / "new.png"
    assert not (tmp_path / "new.png").exists()
    existing = tmp_path / "old.png"
    existing.write_bytes(b"picture")
    resolve_plot_path(existing)
    assert existing.read_bytes() == b"picture"
    (tmp_path / "folder.png").mkdir()
    assert resolve_plot_path(tmp_path / "folder.png") == (
        tmp_path / "folder.png" / "gradient_flow.png"
    )


def test_an_unwritable_folder_is_refused(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK) and os.geteuid() == 0:
            # root writes anywhere; /proc is the folder root cannot write.
            folder = pathlib.Path("/proc")
        with pytest.raises(argparse.ArgumentTypeError, match="cannot write"):
            resolve_plot_path(folder / "flow.png")
    finally:
        (tmp_path / "locked").chmod(0o700)


def test_an_explicit_plot_without_matplotlib_fails_before_training(
    tmp_path, monkeypatch, capsys
):
    import keras_acts.demo

    monkeypatch.setattr(
        keras_acts.demo, "run_demo", lambda *a, **k: pytest.fail("run_demo called")
    )
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real_find_spec(name, *a),
    )
    with pytest.raises(SystemExit):
        main(["demo", "--plot", str(tmp_path / "flow.png")])
    assert "needs matplotlib" in capsys.readouterr().err


@settings(max_examples=50, deadline=None)
@given(
    names=st.lists(st.sampled_from(cli.DEMO_ACTIVATIONS), min_size=1, max_size=8),
    spaces=st.booleans(),
)
def test_activation_lists_are_taken_once_each_or_refused(names, spaces):
    text = (", " if spaces else ",").join(names)
    if len(set(names)) == len(names):
        assert cli._parse_activations(text) == names
    else:
        repeated = next(name for name in names if names.count(name) > 1)
        with pytest.raises(argparse.ArgumentTypeError, match="more than once") as info:
            cli._parse_activations(text)
        assert repeated in str(info.value)
