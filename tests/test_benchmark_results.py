"""The Benchmarks page shows the committed results of the benchmark scripts:
the tables it includes are the ones the scripts make from their JSON, and its
chart exists (docs/scripts/make_figures.py draws it from the same JSON)."""

import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _script(name):
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["layers", "end_to_end"])
def test_the_included_table_is_made_from_the_json(name):
    records = json.loads((RESULTS / f"{name}.json").read_text())["records"]
    assert records
    for record in records:
        assert record["ratio_min"] <= record["ratio"] <= record["ratio_max"]
    assert (RESULTS / f"{name}.md").read_text() == _script(name).table(records)


@pytest.mark.parametrize("page", ["benchmarks.md", "benchmarks.ko.md"])
def test_the_page_includes_the_tables_and_the_chart(page):
    text = (ROOT / "docs" / page).read_text()
    for name in ("layers", "end_to_end"):
        assert f'--8<-- "benchmarks/results/{name}.md"' in text
    images = ROOT / "docs" / "images"
    folder = images / "ko" if page.endswith(".ko.md") else images
    for suffix in ("", "-dark"):
        assert (folder / f"benchmarks{suffix}.svg").is_file()


def test_a_table_marks_what_misses_its_target():
    table = _script("end_to_end").table(
        [
            {"layer": "A", "backend": "jax", "ours_ms": 2.0, "base_ms": 1.0,
             "ratio": 2.0, "ratio_min": 1.9, "ratio_max": 2.1, "target": 1.05},
            {"layer": "B", "backend": "jax", "ours_ms": 1.0, "base_ms": 1.0,
             "ratio": 1.0, "ratio_min": 0.9, "ratio_max": 1.1, "target": 1.05},
        ]
    )  # fmt: skip
    assert "| A | 2.00 (1.00) | **2.00 (1.90–2.10)** |" in table
    assert "| B | 1.00 (1.00) | 1.00 (0.90–1.10) |" in table


def test_the_quoted_numbers_are_collected_from_the_committed_results():
    spec = importlib.util.spec_from_file_location(
        "benchmark_numbers", ROOT / "docs" / "scripts" / "benchmark_numbers.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = json.loads((ROOT / "docs" / "numbers" / "benchmarks.json").read_text())
    assert committed == module.collect()
    assert committed["layers_torch_eager_parametricelu_1e6"] > 0
