"""A mkdocs hook: each API reference page links the source of its object in
the repository (`repo_url`), with the lines it spans.

The link goes under the page's first paragraph, for each `::: path`
directive; Griffe, which mkdocstrings uses, finds the file and lines without
importing the package (and so without a Keras backend).
"""

from __future__ import annotations

import functools
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIRECTIVE = re.compile(r"^::: (?P<path>[\w.]+)$", re.MULTILINE)


@functools.cache
def _package(name: str):
    import griffe

    return griffe.load(name, search_paths=[str(ROOT)])


def source_link(path: str, repo_url: str, branch: str = "main") -> str:
    """A markdown link to the lines of `path` (`package.module.Object`)."""
    package, _, member = path.partition(".")
    found = _package(package)[member]
    if found.is_alias:
        found = found.final_target
    file = found.filepath.relative_to(ROOT).as_posix()
    first, last = found.lineno, found.endlineno
    url = f"{repo_url.rstrip('/')}/blob/{branch}/{file}#L{first}-L{last}"
    return f"Source: [`{file}`, lines {first} to {last}]({url})"


def on_page_markdown(markdown, page, config, **kwargs):
    if not page.file.src_uri.startswith("api/"):
        return markdown
    return DIRECTIVE.sub(
        lambda match: (
            source_link(match["path"], config["repo_url"]) + "\n\n" + match[0]
        ),
        markdown,
    )
