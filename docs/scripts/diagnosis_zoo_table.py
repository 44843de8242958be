"""The failure zoo's results as the docs show them, from the files that
benchmarks/diagnosis_zoo.py writes (docs/numbers/diagnosis_zoo-<backend>.json):

- docs/numbers/diagnosis_zoo.json: the totals per backend, for the pages'
  placeholders (`{{ diagnosis_zoo.tensorflow_precision }}`);
- benchmarks/results/diagnosis_zoo_table.md and diagnosis_zoo_table.ko.md:
  one row per case, with the flags each backend raised, which the pages
  include (outside docs/, so that mkdocs does not build them as pages).

    python docs/scripts/diagnosis_zoo_table.py

tests/test_docs_numbers.py checks that the files are current.
"""

from __future__ import annotations

import json
import pathlib

NUMBERS = pathlib.Path(__file__).resolve().parents[1] / "numbers"
TABLES = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "results"
BACKENDS = ("tensorflow", "jax", "torch")
HEADERS = {
    "en": (
        "Case",
        "Expected",
        "Raised ({backend})",
        "First warning",
        "First warning, dense schedules",
        "Verdict",
    ),
    "ko": (
        "사례",
        "기대한 flag",
        "실제 flag ({backend})",
        "첫 경고",
        "첫 경고(촘촘한 기록)",
        "판정",
    ),
}
VERDICTS = {
    "ko": {"hit": "적중", "miss": "놓침", "ok": "정상", "false alarm": "오경보"},
}


def runs() -> dict[str, dict]:
    found = {}
    for backend in BACKENDS:
        path = NUMBERS / f"diagnosis_zoo-{backend}.json"
        if path.exists():
            found[backend] = json.loads(path.read_text())
    return found


def totals(results: dict[str, dict]) -> dict:
    numbers = {}
    for backend, run in results.items():
        for key, value in run["totals"].items():
            numbers[f"{backend}_{key}"] = value
    return numbers


def table(results: dict[str, dict], language: str) -> str:
    backends = list(results)
    case, expected, raised, first, first_freq1, verdict = HEADERS[language]
    header = [case, expected] + [raised.format(backend=b) for b in backends]
    header += [first, first_freq1, verdict]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    by_backend = {b: {r["case"]: r for r in results[b]["results"]} for b in backends}
    for row in results[backends[0]]["results"]:
        name = row["case"]
        cells = [f"`{name}`", ", ".join(row["expected"]) or "-"]
        cells += [
            ", ".join(by_backend[b][name]["raised"]) or "-"
            if name in by_backend[b]
            else "not run"
            for b in backends
        ]
        for key in ("first_monitor_warning_step", "first_monitor_warning_step_freq1"):
            step = row.get(key)
            cells.append("-" if step is None else f"{step} / {row['steps']}")
        words = VERDICTS.get(language, {})
        cells.append(", ".join(words.get(v, v) for v in row["verdict"].split(", ")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write() -> None:
    results = runs()
    (NUMBERS / "diagnosis_zoo.json").write_text(
        json.dumps(totals(results), indent=1, sort_keys=True) + "\n"
    )
    for language, suffix in (("en", ""), ("ko", ".ko")):
        (TABLES / f"diagnosis_zoo_table{suffix}.md").write_text(
            table(results, language)
        )


if __name__ == "__main__":
    write()
