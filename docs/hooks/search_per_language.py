"""A mkdocs hook: each language searches its own pages.

mkdocs-static-i18n builds one search index for the whole site, English and
Korean pages mixed, which every page loads from `<base>/search/`. This hook
splits it in two after the last build:

- `search/search_index.json`: the English pages (with the API reference);
- `ko/search/search_index.json`: the Korean pages, with the pages that have
  no Korean version (the API reference), which the Korean site shows in
  English under `/ko/`. Locations are relative to `/ko/`.

Material's theme loads the index from its `base` (the site root, in the page's
`__config`), so each Korean page's `base` becomes the root of the Korean site.
Material uses `base` for the search index, the links of search results, and
(features not enabled here) instant navigation's sitemap and versions.
"""

from __future__ import annotations

import json
import pathlib
import re

from mkdocs.plugins import event_priority

KOREAN = "ko/"
BASE = re.compile(r'("base":\s*")([^"]*)(")')


def _page_of(location: str) -> str:
    return location.partition("#")[0]


def split(index: dict, translated) -> tuple[dict, dict]:
    """The English index and the Korean one (locations relative to /ko/).
    `translated(page)` says whether a page (`layers/prelu/`) has a Korean
    version; the Korean site shows the others in English."""
    docs = index["docs"]
    english = [doc for doc in docs if not doc["location"].startswith(KOREAN)]
    korean = [
        {**doc, "location": doc["location"].removeprefix(KOREAN)}
        for doc in docs
        if doc["location"].startswith(KOREAN)
    ]
    korean = [doc for doc in korean if translated(_page_of(doc["location"]))]
    # Pages without a Korean version (the API reference), in English: the
    # i18n plugin dropped the Korean copies of their sections as duplicates.
    korean += [doc for doc in english if not translated(_page_of(doc["location"]))]
    return {**index, "docs": english}, {**index, "docs": korean}


def has_korean_version(docs_dir: pathlib.Path):
    """Whether the page at a location (`layers/prelu/`, `` for the home
    page) has a Korean source beside its English one."""

    def translated(page: str) -> bool:
        stem = page.strip("/") or "index"
        return (docs_dir / f"{stem}.ko.md").exists() or (
            docs_dir / stem / "index.ko.md"
        ).exists()

    return translated


def on_post_page(output, page, config, **kwargs):
    if not page.file.dest_uri.startswith(KOREAN):
        return output
    # The root of the Korean site, where its own search index lies.
    return BASE.sub(
        lambda m: f"{m[1]}{m[2].rstrip('/') or '.'}/ko/{m[3]}", output, count=1
    )


# After mkdocs-static-i18n (priority -100), which writes the whole index
# once every language is built; the nested builds run this first on a
# partial index, which the last run overwrites.
@event_priority(-200)
def on_post_build(config, **kwargs):
    site = pathlib.Path(config["site_dir"])
    path = site / "search" / "search_index.json"
    if not path.exists():
        return
    english, korean = split(
        json.loads(path.read_text(encoding="utf-8")),
        has_korean_version(pathlib.Path(config["docs_dir"])),
    )
    path.write_text(json.dumps(english, ensure_ascii=False), encoding="utf-8")
    target = site / KOREAN / "search" / "search_index.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(korean, ensure_ascii=False), encoding="utf-8")
