"""Numbers in the docs' prose come from the scripts that measure them
(docs/numbers/*.json through docs/hooks/numbers.py), and those files are
current."""

import importlib.util
import json
import pathlib
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _module(path: pathlib.Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


numbers_hook = _module(ROOT / "docs" / "hooks" / "numbers.py")
PAGES = sorted((ROOT / "docs").rglob("*.md"))


def test_mkdocs_runs_the_hook():
    yaml = pytest.importorskip("yaml")
    # The config's python tags (slugify) need no resolving to read `hooks`.
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    assert "docs/hooks/numbers.py" in config["hooks"]


def test_every_placeholder_names_a_measured_number():
    numbers = numbers_hook.load()
    filled = 0
    for page in PAGES:
        text = page.read_text()
        filled += len(numbers_hook.PLACEHOLDER.findall(text))
        result = numbers_hook.fill(text, numbers, str(page))
        assert "{{" not in result.replace("{{{", ""), page
    assert filled >= 15


def test_english_and_korean_pages_quote_the_same_numbers():
    for korean in (ROOT / "docs").rglob("*.ko.md"):
        english = korean.with_name(korean.name.replace(".ko.md", ".md"))
        quoted = [
            sorted(m[0] for m in numbers_hook.PLACEHOLDER.finditer(p.read_text()))
            for p in (english, korean)
        ]
        assert quoted[0] == quoted[1], korean.relative_to(ROOT)


@pytest.mark.parametrize(
    "value, placeholder, text",
    [
        (1.1556e-05, "{{ demo.x:.1e }}", "1.2e-5"),
        (2.98e-08, "{{demo.x:.0e}}", "3e-8"),
        (1.1556e-05, "{{ demo.x:.1e|tex }}", r"1.2 \times 10^{-5}"),
        (3.5365, "{{ demo.x:.1f }}", "3.5"),
        (3.5365e12, "{{ demo.x:.2e }}", "3.54e12"),
        (7, "{{ demo.x }}", "7"),
    ],
)
def test_placeholders_are_formatted_as_prose_writes_numbers(value, placeholder, text):
    assert numbers_hook.fill(f"a {placeholder} b", {"demo": {"x": value}}, "p") == (
        f"a {text} b"
    )


def test_a_placeholder_without_its_number_fails_the_build():
    exceptions = pytest.importorskip("mkdocs.exceptions")
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="guide/x.md"))

    with pytest.raises(
        exceptions.PluginError, match=r"guide/x.md.*demo.json has no key 'nope'"
    ):
        numbers_hook.on_page_markdown("{{ demo.nope:.1f }}", page)
    with pytest.raises(exceptions.PluginError, match=r"nowhere.json has no key 'x'"):
        numbers_hook.on_page_markdown("{{ nowhere.x }}", page)


@pytest.mark.tensorflow_only
def test_the_demo_numbers_are_current():
    committed = json.loads((ROOT / "docs" / "numbers" / "demo.json").read_text())
    measured = _module(ROOT / "docs" / "scripts" / "demo_numbers.py").measure(
        steps=committed["steps"]
    )
    assert measured.keys() == committed.keys()
    for key, value in measured.items():
        assert value == pytest.approx(committed[key], rel=1e-3), key


def test_readme_quotes_the_measured_monitor_overheads():
    # README.md is not built by mkdocs, so its figures are written out: they
    # must be the measured ones, rounded as written.
    numbers = numbers_hook.load()["benchmarks"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    expected = (
        f"about {numbers['monitor_tensorflow_mlp_freq1']:.0f}% step time at every "
        f"step on TensorFlow, {numbers['monitor_jax_freq1']:.0f}% on JAX, "
        f"{numbers['monitor_torch_freq1']:.0f}% on PyTorch"
    )
    assert expected in readme
    worst_freq100 = max(
        numbers[f"monitor_{run}_freq100"] for run in ("tensorflow_mlp", "jax", "torch")
    )
    assert "2% or less at every 100th" in readme and worst_freq100 <= 2


def test_the_diagnosis_zoo_tables_are_current():
    # docs/scripts/diagnosis_zoo_table.py made them from the results files
    # that benchmarks/diagnosis_zoo.py writes.
    script = _module(ROOT / "docs" / "scripts" / "diagnosis_zoo_table.py")
    results = script.runs()
    assert set(results) >= {"tensorflow"}
    numbers = ROOT / "docs" / "numbers"
    committed = json.loads((numbers / "diagnosis_zoo.json").read_text())
    assert committed == script.totals(results)
    for language, suffix in (("en", ""), ("ko", ".ko")):
        table = (script.TABLES / f"diagnosis_zoo_table{suffix}.md").read_text()
        assert table == script.table(results, language)
