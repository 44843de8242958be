"""A mkdocs hook: a page of the Korean site that has no Korean version (the
API reference, generated from the English docstrings) says so at its top,
under its title.

mkdocs-static-i18n builds such a page from its English source
(`fallback_to_default`); it marks the file with the language it was built
for (`locale_alternate_of`) beside its own (`locale`).
"""

from __future__ import annotations

import re

NOTICES = {
    "ko": (
        '!!! info "영어 페이지"\n'
        "    이 페이지는 번역되지 않아 영어로 보여 줍니다. API 레퍼런스는 코드의\n"
        "    docstring에서 만들어지며, docstring은 영어로만 작성되어 있습니다.\n"
    ),
}
TITLE = re.compile(r"\A(---\n.*?\n---\n\s*)?(# [^\n]*\n)?", re.DOTALL)


def on_page_markdown(markdown, page, **kwargs):
    built_for = getattr(page.file, "locale_alternate_of", None)
    if built_for not in NOTICES or getattr(page.file, "locale", None) == built_for:
        return markdown
    head = TITLE.match(markdown).group(0)
    return f"{head}\n{NOTICES[built_for]}\n{markdown[len(head) :]}"
