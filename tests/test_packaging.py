"""The package builds a wheel and an sdist, and the wheel installs from the
file alone, offline, as the Installation page tells a user to do until the
first release.

Both are built by setuptools' own PEP 517 hooks (what `python -m build
--no-isolation` calls), from a copy of the checkout's files, so that nothing
is written into the working tree and no network is needed."""

import email
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

import keras_acts

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Backend-independent: once, with the rest of the TensorFlow run.
pytestmark = pytest.mark.tensorflow_only

# One hook a process: after build_sdist, build_wheel in the same process
# reports a wheel that it does not leave in the directory.
BUILD = """
import sys
from setuptools import build_meta

print(getattr(build_meta, sys.argv[1])(sys.argv[2]))
"""


def source_files():
    """The files of the checkout (those git tracks or would, not those it
    ignores), or of the unpacked sdist the tests run from."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [name for name in listed.split("\0") if name]
    ignored = {".git", "site", "build", "dist", "__pycache__", ".pytest_cache"}
    return [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if path.is_file() and not ignored.intersection(path.relative_to(ROOT).parts)
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sdist and the wheel, built from a copy of the source."""
    source = tmp_path_factory.mktemp("source")
    for name in source_files():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    for hook in ("build_sdist", "build_wheel"):
        subprocess.run(
            [sys.executable, "-c", BUILD, hook, str(dist)],
            cwd=source,
            check=True,
            capture_output=True,
            timeout=120,
        )
    (sdist,) = dist.glob("keras_acts-*.tar.gz")
    (wheel,) = dist.glob("keras_acts-*.whl")
    return sdist, wheel


def test_wheel_holds_the_package_its_command_and_metadata(built):
    _, wheel = built
    assert wheel.name == f"keras_acts-{keras_acts.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"keras_acts-{keras_acts.__version__}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert {
        "keras_acts/__init__.py",
        "keras_acts/py.typed",
        "keras_acts/layers/__init__.py",
        "keras_acts/callbacks/__init__.py",
        "keras_acts_cli.py",
    } <= names
    # Only the package: no tests, docs or benchmarks in the wheel.
    assert not any(
        name.startswith(("tests/", "docs/", "benchmarks/")) for name in names
    )
    assert metadata["Name"] == "keras-acts"
    assert metadata["Version"] == keras_acts.__version__
    requires = metadata.get_all("Requires-Dist")
    assert any(r.startswith("keras") for r in requires)
    assert any(r.startswith("numpy") for r in requires)
    assert any('extra == "tensorflow"' in r for r in requires)
    assert "keras-acts = " in entry_points


def test_sdist_can_run_its_own_tests(built):
    sdist, _ = built
    prefix = f"keras_acts-{keras_acts.__version__}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(prefix) for name in archive.getnames()}
    assert {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "mkdocs.yml",
        ".ci/run",
        "keras_acts/__init__.py",
        "keras_acts_cli.py",
        "tests/conftest.py",
        "tests/test_packaging.py",
        "tests/site_search.js",
        "docs/index.md",
        "docs/numbers/benchmarks.json",
    } <= names


def test_wheel_installs_offline_into_a_fresh_environment(built, tmp_path):
    _, wheel = built
    venv = tmp_path / "venv"
    # The system's packages (keras, a backend) stay visible; keras_acts
    # itself comes from the wheel, installed without the index.
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
        check=True,
        timeout=120,
    )
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]
        + ["--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=120,
    )
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    environment.pop("PYTHONPATH", None)
    imported = subprocess.run(
        [str(python), "-c", "import keras_acts; print(keras_acts.__file__)"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    location = pathlib.Path(imported.stdout.strip().splitlines()[-1])
    assert venv in location.parents, location  # the wheel's copy, not the checkout
    command = venv / ("Scripts" if os.name == "nt" else "bin") / "keras-acts"
    version = subprocess.run(
        [str(command), "--version"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert keras_acts.__version__ in version.stdout
