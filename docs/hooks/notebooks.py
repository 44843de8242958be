"""A mkdocs hook: every guide with code can be downloaded as a Jupyter
notebook generated from its page, in the page's language.

The page's prose becomes markdown cells, each ```python block a code cell,
and the ```text block after it (what the example prints, which the tests
check) that cell's output. Links and images point to the published site,
so that they work from the notebook. The notebook is written beside the
page (`guide/gradient_flow/gradient_flow.ipynb`), and the page links to it
under its title. tests/test_docs_notebooks.py runs the notebooks' cells in
order and compares what they print with the outputs they hold.

The numbers hook (docs/hooks/numbers.py) runs first: the notebook holds the
numbers, not their placeholders.
"""

from __future__ import annotations

import json
import pathlib
import posixpath
import re
import urllib.parse

SECTIONS = ("guide/",)
FENCE = re.compile(
    r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$\n?", re.M | re.S
)
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
ATTRIBUTES = re.compile(r"\s*\{:[^}]*\}")
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
LINK_TEXT = {
    "en": "Download this guide as a Jupyter notebook",
    "ko": "이 가이드를 Jupyter 노트북으로 내려받기",
}
_pending: dict[str, dict] = {}


def _absolute(target: str, source_dir: str, site_url: str, prefix: str) -> str:
    """A link of the page, as a URL of the published site: a page
    (`../benchmarks.md#monitors`) in the page's language (`prefix`, `ko/`),
    a file (an image) where it is published, for every language."""
    if re.match(r"^[a-z]+:|^#|^/", target):
        return target
    path, _, anchor = target.partition("#")
    if anchor.startswith("only-"):  # Material's light/dark image variants
        anchor = ""
    # Relative to the source file's folder (guide/), as mkdocs resolves it.
    resolved = posixpath.normpath(posixpath.join(source_dir, path))
    if path.endswith(".md"):
        resolved = resolved.removesuffix(".md")
        resolved = prefix + ("" if resolved == "index" else resolved + "/")
        resolved = resolved.replace("/index/", "/")
    url = urllib.parse.urljoin(site_url, resolved)
    return url + (f"#{anchor}" if anchor else "")


def _prose(text: str, source_dir: str, site_url: str, prefix: str) -> str:
    def link(match: re.Match) -> str:
        target = match["target"]
        if match["bang"] and "#only-dark" in target:
            return ""  # the dark variant of an image: one is enough
        url = _absolute(target, source_dir, site_url, prefix)
        return f"{match['bang']}[{match['text']}]({url})"

    text = ATTRIBUTES.sub("", text)
    text = LINK.sub(link, text)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _markdown_cell(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": _lines(text)}


def _code_cell(code: str, output: str | None) -> dict:
    outputs = []
    if output is not None:
        outputs.append(
            {"name": "stdout", "output_type": "stream", "text": _lines(output)}
        )
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": outputs,
        "source": _lines(code.rstrip("\n")),
    }


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def notebook(markdown: str, src_uri: str, site_url: str, language: str) -> dict:
    """The notebook of a page's markdown (`src_uri`: its source file in
    docs/): prose in markdown cells, each python block a code cell with the
    text block after it as its output."""
    source_dir = posixpath.dirname(src_uri)
    prefix = "" if language == "en" else f"{language}/"
    markdown = FRONT_MATTER.sub("", markdown)
    cells: list[dict] = []
    prose: list[str] = []
    position = 0
    blocks = list(FENCE.finditer(markdown))
    skip = set()
    for index, block in enumerate(blocks):
        if index in skip:
            continue
        prose.append(markdown[position : block.start()])
        position = block.end()
        if block["lang"] != "python":
            prose.append(block.group(0))
            continue
        output = None
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if (
            following is not None
            and following["lang"] == "text"
            and not markdown[block.end() : following.start()].strip()
        ):
            output = following["body"]
            skip.add(index + 1)
            position = following.end()
        text = _prose("".join(prose), source_dir, site_url, prefix)
        if text:
            cells.append(_markdown_cell(text))
        prose = []
        cells.append(_code_cell(block["body"], output))
    text = _prose("".join(prose) + markdown[position:], source_dir, site_url, prefix)
    if text:
        cells.append(_markdown_cell(text))
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
            "keras_acts": {"source": src_uri, "language": language},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def notebook_name(src_uri: str) -> str:
    """`guide/gradient_flow.ko.md` -> `gradient_flow.ipynb`."""
    return pathlib.PurePosixPath(src_uri).name.split(".")[0] + ".ipynb"


def _language(page) -> str:
    return getattr(page.file, "locale_alternate_of", None) or getattr(
        page.file, "locale", "en"
    )


def on_page_markdown(markdown, page, config, **kwargs):
    src = page.file.src_uri
    if not src.startswith(SECTIONS) or "```python" not in markdown:
        return markdown
    language = _language(page)
    name = notebook_name(src)
    destination = posixpath.join(posixpath.dirname(page.file.dest_uri), name)
    _pending[destination] = notebook(markdown, src, config["site_url"] or "/", language)
    link = (
        f'<p class="notebook-download"><a href="{name}" download>'
        f"{LINK_TEXT.get(language, LINK_TEXT['en'])}</a></p>\n"
    )
    title = re.match(r"\A(---\n.*?\n---\n\s*)?(# [^\n]*\n)", markdown, re.S)
    if title is None:
        return link + "\n" + markdown
    return f"{title.group(0)}\n{link}\n{markdown[title.end() :]}"


def on_post_build(config, **kwargs):
    site = pathlib.Path(config["site_dir"])
    for destination, content in _pending.items():
        path = site / destination
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, ensure_ascii=False, indent=1) + "\n")
    _pending.clear()
