"""Each guide with code downloads as a Jupyter notebook generated from its
page (docs/hooks/notebooks.py): the notebook's code cells are the page's
examples, its outputs what the page shows, and run in order, as "Run All"
runs them, its cells print those outputs (on TensorFlow, as CI runs them)."""

import contextlib
import importlib.util
import io
import json
import pathlib
import re
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# TensorFlow only: the guides' examples use the monitors and TensorBoard.
pytestmark = pytest.mark.tensorflow_only
SITE_URL = "https://keras-acts.github.io/keras-acts/"
FENCE = re.compile(
    r"^```python\n(.*?)^```\n(?:\s*```text\n(.*?)^```)?", re.MULTILINE | re.DOTALL
)


def _module(path: pathlib.Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


numbers_hook = _module(ROOT / "docs" / "hooks" / "numbers.py")
notebooks_hook = _module(ROOT / "docs" / "hooks" / "notebooks.py")
GUIDES = [
    page
    for page in sorted((ROOT / "docs" / "guide").glob("*.md"))
    if "```python" in page.read_text()
]


def make(page):
    """The notebook of a guide page, as the site's build writes it."""
    language = "ko" if page.name.endswith(".ko.md") else "en"
    markdown = numbers_hook.fill(page.read_text(), numbers_hook.load(), str(page))
    source = page.relative_to(ROOT / "docs").as_posix()
    notebook = notebooks_hook.notebook(markdown, source, SITE_URL, language)
    json.dumps(notebook)  # writable as JSON
    return markdown, notebook


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def test_there_are_guides_with_notebooks():
    assert len(GUIDES) >= 8  # four guides with code, in two languages


@pytest.mark.parametrize("page", GUIDES, ids=lambda page: page.name)
def test_notebook_holds_the_page_examples_and_outputs(page):
    markdown, notebook = make(page)
    assert notebook["nbformat"] == 4
    examples = FENCE.findall(markdown)
    cells = code_cells(notebook)
    assert [("".join(cell["source"]), cell["outputs"]) for cell in cells] == [
        (
            code.rstrip("\n"),
            [
                {
                    "name": "stdout",
                    "output_type": "stream",
                    "text": output.splitlines(True),
                }
            ]
            if output
            else [],
        )
        for code, output in examples
    ]
    prose = "".join(
        "".join(cell["source"])
        for cell in notebook["cells"]
        if cell["cell_type"] == "markdown"
    )
    assert prose.startswith("# ")  # the page's title
    assert "{{" not in prose  # numbers filled in
    # Links and images point to the published site, which the notebook
    # needs outside it; the dark variant of a figure is left out.
    for target in re.findall(r"\]\(([^)]+)\)", prose):
        assert target.startswith(("https://", "#")), target
        assert "only-dark" not in target and ".md" not in target
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", prose)
    assert all(image.startswith(f"{SITE_URL}images/") for image in images)


def shown_lines(output):
    return [line.rstrip() for line in output.strip().splitlines()]


@pytest.mark.parametrize(
    "page",
    [page for page in GUIDES if not page.name.endswith(".ko.md")],
    ids=lambda page: page.name,
)
def test_notebook_runs_in_order_and_prints_its_outputs(page, tmp_path, monkeypatch):
    # One namespace for all cells, as one kernel runs them; in a scratch
    # folder, as a downloaded notebook would run.
    monkeypatch.chdir(tmp_path)
    _, notebook = make(page)
    namespace = {"__name__": "__main__"}
    for number, cell in enumerate(code_cells(notebook), start=1):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(
                compile("".join(cell["source"]), f"<cell {number}>", "exec"), namespace
            )
        shown = "".join("".join(output["text"]) for output in cell["outputs"])
        assert shown_lines(printed.getvalue()) == shown_lines(shown), (
            page.name,
            number,
        )
