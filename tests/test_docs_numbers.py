"""Numbers in the docs' prose come from the scripts that measure them
(docs/numbers/*.json through docs/hooks/numbers.py), and those files are
current."""

import importlib.util
import json
import math
import pathlib
import re
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
    # must be the measured ones (wall time), rounded as written.
    numbers = numbers_hook.load()["monitor_cost"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    expected = (
        f"about {numbers['tensorflow_mlp_gradient_freq1']:.0f}% step time at every "
        f"step on TensorFlow, {numbers['jax_mlp_gradient_freq1']:.0f}% on JAX, "
        f"{numbers['torch_mlp_gradient_freq1']:.0f}% on PyTorch"
    )
    assert expected in readme
    worst_default = max(
        numbers[f"{backend}_mlp_gradient_default"]
        for backend in ("tensorflow", "jax", "torch")
    )
    assert f"at most {math.ceil(worst_default)}% at the default schedule" in readme


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


# A time or a memory size written out in a page's prose or tables: a figure
# that must come from the script that measured it, through a placeholder.
MEASURED = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s?(?:ms|s|MB)\b")
# The record of superseded runs, which no script reproduces any more.
RECORDS = {"benchmarks_history.md", "benchmarks_history.ko.md"}


def prose(page: pathlib.Path):
    """A page's lines outside code blocks, without inline code and
    placeholders."""
    in_code = False
    for line in page.read_text().splitlines():
        if re.match(r"\s*(```|~~~)", line):
            in_code = not in_code
        elif not in_code:
            yield re.sub(r"`[^`]*`|\{\{.*?\}\}", "", line)


def test_pages_write_no_measured_time_or_memory_by_hand():
    pages = [page for page in PAGES if page.name not in RECORDS]
    assert len(pages) >= 40
    written = [
        (str(page.relative_to(ROOT)), found)
        for page in pages
        for line in prose(page)
        for found in MEASURED.findall(line)
    ]
    assert written == []
    # The pattern finds what the pages used to write by hand.
    assert MEASURED.findall("| first fit | 7.48 / 5.20 s | 1532 / 1211 MB |") == [
        "5.20 s",
        "1211 MB",
    ]


def test_standardize_writes_a_number_for_each_cell_of_the_table():
    script = _module(ROOT / "benchmarks" / "standardize.py")

    def case(ours_error, theirs_error):
        layer = {"seconds": 0.5, "extra_mb": 4.0}
        return {
            "Standardize": layer | {"error": ours_error},
            "Normalization": layer | {"error": theirs_error},
            "time_ratio": 0.8,
        }

    numbers = script.numbers(
        {("tabular", 1e6): case(5e-8, 4e-4), ("images", 1e8): case(2e-8, 2e6)}
    )
    assert numbers["tabular_1e6_normalization_error"] == 4e-4
    assert numbers["images_1e8_standardize_error"] == 2e-8
    assert numbers["images_1e8_time_ratio"] == 0.8
    assert numbers["tabular_1e6_standardize_extra_mb"] == 4.0
    assert (numbers["normalization_error_min"], numbers["normalization_error_max"]) == (
        4e-4,
        2e6,
    )
    assert numbers["standardize_error_max"] == 5e-8
    # Every cell the pages quote is there.
    quoted = {
        m["key"]
        for m in numbers_hook.PLACEHOLDER.finditer(
            (ROOT / "docs" / "benchmarks.md").read_text()
        )
        if m["source"] == "standardize"
    }
    committed = json.loads((ROOT / "docs" / "numbers" / "standardize.json").read_text())
    assert len(quoted) >= 30 and quoted <= committed.keys()


def test_repeated_fits_compare_each_fit_with_the_same_plain_fit():
    script = _module(ROOT / "docs" / "scripts" / "repeated_fits.py")
    rounds = [
        {
            "plain": {"seconds": [6.0, 0.2, 0.2, 0.2], "peak_mb": 1000.0},
            "monitored": {"seconds": [7.0, 0.3, 0.2, 0.25], "peak_mb": 1200.0},
            "mixed": {"seconds": [6.0, 7.5, 0.22, 0.2], "peak_mb": 1150.0},
        },
        {
            "plain": {"seconds": [4.0, 0.1, 0.1, 0.1], "peak_mb": 1000.0},
            "monitored": {"seconds": [6.0, 0.3, 0.1, 0.1], "peak_mb": 1300.0},
            "mixed": {"seconds": [4.0, 6.5, 0.1, 0.1], "peak_mb": 1100.0},
        },
        {
            "plain": {"seconds": [5.0, 0.2, 0.2, 0.2], "peak_mb": 1000.0},
            "monitored": {"seconds": [8.0, 0.2, 0.2, 0.2], "peak_mb": 1100.0},
            "mixed": {"seconds": [5.0, 8.0, 0.2, 0.2], "peak_mb": 1000.0},
        },
    ]
    numbers = script.numbers("m", rounds)
    assert numbers["m_first_seconds"] == 7.0
    assert numbers["m_first_plain_seconds"] == 5.0
    # The median of the per-round ratios (7/6, 6/4, 8/5), not the ratio of
    # the medians (7/5).
    assert numbers["m_first_ratio"] == pytest.approx(1.5)
    assert numbers["m_second_ratio"] == pytest.approx(1.5)  # 1.5, 3, 1
    assert numbers["m_silent_seconds"] == 0.2  # the fourth fit, recording nothing
    assert numbers["m_plain_after_seconds"] == 0.2  # mixed: plain, monitored, plain
    assert numbers["m_monitored_after_plain_seconds"] == 7.5
    assert numbers["m_first_extra_seconds"] == 2.0
    assert numbers["m_recording_seconds_per_step"] == pytest.approx(0.05)
    assert numbers["m_peak_ratio"] == pytest.approx(1.2)
