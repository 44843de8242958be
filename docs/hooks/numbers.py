"""A mkdocs hook: the numbers that pages quote, filled in from the files the
measuring scripts write, so that two pages cannot disagree.

A page writes `{{ demo.sigmoid_first_layer_ratio:.1e }}` for the value of the
key `sigmoid_first_layer_ratio` in `docs/numbers/demo.json`, formatted with
the Python format spec after the colon; exponents are written short
(`1.2e-5`, not `1.2e-05`). `|tex` after the spec writes a number in
scientific notation as TeX (`1.2 \\times 10^{-5}`), for use inside `$...$`.
A placeholder that names no number fails the build.
"""

from __future__ import annotations

import json
import pathlib
import re

NUMBERS = pathlib.Path(__file__).resolve().parents[1] / "numbers"
PLACEHOLDER = re.compile(
    r"\{\{\s*(?P<source>\w+)\.(?P<key>\w+)"
    r"(?::(?P<spec>[^|}\s]*))?(?P<tex>\|tex)?\s*\}\}"
)
EXPONENT = re.compile(r"e([+-])0*(\d)")


class MissingNumber(KeyError):
    """A placeholder names a file or key that docs/numbers/ does not hold."""


def load(directory: pathlib.Path = NUMBERS) -> dict[str, dict]:
    """Every docs/numbers/<source>.json, by source name."""
    return {
        path.stem: json.loads(path.read_text()) for path in directory.glob("*.json")
    }


def render(value, spec: str, tex: bool) -> str:
    text = EXPONENT.sub(
        lambda m: "e" + ("-" if m[1] == "-" else "") + m[2], format(value, spec)
    )
    if tex and "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{exponent}}}"
    return text


def fill(markdown: str, numbers: dict[str, dict], where: str) -> str:
    """`markdown` with every placeholder replaced by its number."""

    def number(match: re.Match) -> str:
        source, key = match["source"], match["key"]
        if key not in numbers.get(source, {}):
            raise MissingNumber(
                f"{where}: {match[0]} names no number: docs/numbers/{source}.json "
                f"has no key {key!r}"
            )
        return render(numbers[source][key], match["spec"] or "", bool(match["tex"]))

    return PLACEHOLDER.sub(number, markdown)


def on_page_markdown(markdown, page, **kwargs):
    from mkdocs.exceptions import PluginError

    try:
        return fill(markdown, load(), page.file.src_uri)
    except MissingNumber as error:
        raise PluginError(str(error.args[0])) from None
