"""The examples in the docs and README run, and CI runs README's test command."""

import contextlib
import inspect
import io
import pathlib
import re
import textwrap
import tokenize

import keras
import numpy as np
import pytest

import keras_acts

# TensorFlow only: the docs' examples use the monitors.
pytestmark = pytest.mark.tensorflow_only

ROOT = pathlib.Path(__file__).resolve().parents[1]
# A python block, and the text block right after it if there is one: what
# the example prints.
FENCE = re.compile(
    r"^```python\n(.*?)^```\n(?:\s*```text\n(.*?)^```)?", re.MULTILINE | re.DOTALL
)
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]


def without_comments(code):
    """The code without its comments (and blank lines): a Korean page
    (<page>.ko.md) repeats its English page's examples with the comments
    translated."""
    lines = code.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            lines[row - 1] = lines[row - 1][:column]
    return "\n".join(line.rstrip() for line in lines if line.strip())


def examples(page):
    """Each example of a page, its code without comments and its output."""
    return [(without_comments(code), output) for code, output in FENCE.findall(page)]


# Each distinct example once.
EXAMPLES = {}
for page in PAGES:
    for number, (code, output) in enumerate(FENCE.findall(page.read_text()), 1):
        EXAMPLES.setdefault(
            (without_comments(code), output),
            (code, output, f"{page.relative_to(ROOT)}:{number}"),
        )
BLOCKS = [
    pytest.param(code, output, id=name) for code, output, name in EXAMPLES.values()
]


def public_objects():
    """The objects whose docstrings the API reference renders: the names in
    `keras_acts.__all__` and `keras_acts.testing.__all__`, and the public
    methods and properties of the classes among them."""
    objects = {
        f"keras_acts.{name}": getattr(keras_acts, name)
        for name in keras_acts.__all__
        if name not in ("testing", "__version__")
    }
    objects.update(
        (f"keras_acts.testing.{name}", getattr(keras_acts.testing, name))
        for name in keras_acts.testing.__all__
    )
    for name, target in list(objects.items()):
        if inspect.isclass(target):
            for member, value in vars(target).items():
                if not member.startswith("_") and (
                    inspect.isfunction(value)
                    or isinstance(value, (property, classmethod, staticmethod))
                ):
                    objects[f"{name}.{member}"] = value
    return objects


# A docstring's `Example:` section (Google style): the lines indented under it.
EXAMPLE_SECTION = re.compile(r"^Example:\n((?:[ \t]+\S.*\n|[ \t]*\n)*)", re.MULTILINE)
DOCSTRING_BLOCKS = [
    pytest.param(code, output, id=f"{name}:{number}")
    for name, target in public_objects().items()
    for section in EXAMPLE_SECTION.findall((inspect.getdoc(target) or "") + "\n")
    for number, (code, output) in enumerate(
        FENCE.findall(textwrap.dedent(section)), start=1
    )
]


def printed_lines(code, namespace):
    """What `code` prints, one line a list item, without trailing spaces."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "<docs example>", "exec"), namespace)
    return [line.rstrip() for line in printed.getvalue().strip().splitlines()]


def shown_lines(output):
    return [line.rstrip() for line in output.strip().splitlines()]


def test_korean_pages_repeat_the_english_examples():
    for korean in ROOT.glob("docs/**/*.ko.md"):
        english = korean.with_name(korean.name.replace(".ko.md", ".md"))
        assert examples(korean.read_text()) == examples(english.read_text()), (
            korean.relative_to(ROOT)
        )


def test_there_are_examples():
    assert len(BLOCKS) >= 8


def test_every_example_shows_its_output():
    missing = [
        f"{page.relative_to(ROOT)}:{number}"
        for page in PAGES
        for number, (_, output) in enumerate(FENCE.findall(page.read_text()), 1)
        if not output.strip()
    ]
    assert not missing, f"no ```text block with the printed output after: {missing}"


@pytest.mark.parametrize("code, output", BLOCKS)
def test_example_runs_and_prints_what_the_page_shows(code, output):
    assert printed_lines(code, {"__name__": "__docs__"}) == shown_lines(output)


def test_there_are_docstring_examples():
    assert len(DOCSTRING_BLOCKS) >= 15


@pytest.mark.parametrize("code, output", DOCSTRING_BLOCKS)
def test_docstring_example_prints_what_it_shows(code, output):
    # The examples use full public paths, with these three imported.
    namespace = {"keras": keras, "np": np, "keras_acts": keras_acts}
    assert output.strip(), "an Example without a ```text block of its output"
    assert printed_lines(code, namespace) == shown_lines(output)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Run the tests", 1)[1]
    command = re.search(r"```bash\n(.*?)\n```", section, re.DOTALL).group(1)
    test_command = command.split("&&")[-1].strip()
    assert test_command.startswith("python -m pytest")
    ci_lines = [
        line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
    ]
    assert test_command in ci_lines
