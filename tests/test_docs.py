"""The examples in the docs and README run, and CI runs README's test command."""

import contextlib
import io
import pathlib
import re

import pytest

# TensorFlow only: the docs' examples use the monitors.
pytestmark = pytest.mark.tensorflow_only

ROOT = pathlib.Path(__file__).resolve().parents[1]
# A python block, and the text block right after it if there is one: what
# the example prints.
FENCE = re.compile(
    r"^```python\n(.*?)^```\n(?:\s*```text\n(.*?)^```)?", re.MULTILINE | re.DOTALL
)
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
# Each distinct example once: a Korean page (<page>.ko.md) repeats its
# English page's examples byte for byte.
EXAMPLES = {}
for page in PAGES:
    for number, example in enumerate(FENCE.findall(page.read_text()), start=1):
        EXAMPLES.setdefault(example, f"{page.relative_to(ROOT)}:{number}")
BLOCKS = [
    pytest.param(code, output, id=name) for (code, output), name in EXAMPLES.items()
]


def test_korean_pages_repeat_the_english_examples():
    for korean in ROOT.glob("docs/**/*.ko.md"):
        english = korean.with_name(korean.name.replace(".ko.md", ".md"))
        assert FENCE.findall(korean.read_text()) == FENCE.findall(
            english.read_text()
        ), korean.relative_to(ROOT)


def test_there_are_examples():
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("code, output", BLOCKS)
def test_example_runs_and_prints_what_the_page_shows(code, output):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "<docs example>", "exec"), {"__name__": "__docs__"})
    if output:
        lines = [line.rstrip() for line in printed.getvalue().strip().splitlines()]
        assert lines == [line.rstrip() for line in output.strip().splitlines()]


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
