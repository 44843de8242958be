"""The built site works in a browser, offline, in English and Korean: pages
load without console errors, the math is rendered by the KaTeX shipped with
the site, and the site's own search finds API names and Korean terms."""

import functools
import html
import http.server
import json
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest

import keras_acts

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = next(
    (
        path
        for name in ("chromium", "chromium-browser", "google-chrome")
        if (path := shutil.which(name))
    ),
    None,
)
pytestmark = [
    # TensorFlow only: builds and checks the docs site once, whatever the backend.
    pytest.mark.tensorflow_only,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)"
    ),
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


NODE = shutil.which("node")


# Served as it is deployed: under the path of mkdocs.yml's site_url, on
# which the language switcher's links to the home pages depend.
SITE_PATH = urllib.parse.urlparse(
    re.search(r"^site_url: (\S+)", (ROOT / "mkdocs.yml").read_text(), re.M).group(1)
).path.strip("/")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("server") / SITE_PATH
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "-d",
            str(site),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return site


@pytest.fixture(scope="module")
def site_url(built_site):
    handler = functools.partial(QuietHandler, directory=str(built_site.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{SITE_PATH}"
    server.shutdown()
    server.server_close()


def render(url, profile, budget_ms=10000, window="800,600"):
    """The page's DOM after its scripts ran, and its console messages."""
    result = subprocess.run(
        [
            CHROMIUM,
            f"--window-size={window}",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def console_errors(console):
    return [
        line
        for line in console
        if "ERROR:CONSOLE" in line or "Uncaught" in line or "Failed to load" in line
    ]


def test_home_page_loads_without_console_errors(site_url, tmp_path):
    dom, console = render(f"{site_url}/", tmp_path)
    assert "<h1" in dom and "keras_acts" in dom
    assert console_errors(console) == []


@pytest.mark.parametrize("page", ["benchmarks/", "ko/benchmarks/"])
def test_benchmarks_page_shows_the_included_tables_and_chart(site_url, tmp_path, page):
    dom, console = render(f"{site_url}/{page}", tmp_path)
    assert console_errors(console) == []
    # The tables the benchmark scripts wrote, rendered as tables.
    tables = re.findall(r"<table>.*?</table>", dom, flags=re.S)
    assert any("Maxout contiguous" in table for table in tables)
    assert any("ms (built-in ms)" in table for table in tables)
    assert "--8&lt;--" not in dom and "--8<--" not in dom
    assert re.search(r"<img[^>]+benchmarks(-dark)?\.svg", dom)


@pytest.mark.parametrize(
    "page, formulas",
    [
        ("guide/why_activations/", 10),
        # Docstring formulas, on the API reference.
        ("api/PReLU/", 1),
        ("api/SReLU/", 5),
        ("api/MaxoutDense/", 1),
    ],
)
def test_math_is_rendered_offline(site_url, tmp_path, page, formulas):
    dom, console = render(f"{site_url}/{page}", tmp_path)
    assert console_errors(console) == []
    assert dom.count('class="katex"') >= formulas  # KaTeX's output elements
    assert 'class="katex-display"' in dom
    # KaTeX keeps the source in <annotation> elements; outside them no
    # arithmatex delimiter may be left, or some math was not rendered.
    visible = re.sub(r"<annotation.*?</annotation>", "", dom, flags=re.S)
    assert "\\(" not in visible and "\\[" not in visible


@pytest.mark.parametrize(
    "page, words",
    [
        ("ko/", ["기울기", "활성화 함수"]),
        ("ko/guide/why_activations/", ["기울기 소실"]),
        ("ko/layers/prelu/", ["기울기"]),
    ],
)
def test_korean_pages_load_and_switch_language(site_url, tmp_path, page, words):
    dom, console = render(f"{site_url}/{page}", tmp_path)
    assert console_errors(console) == []
    assert '<html lang="ko"' in dom
    for word in words:
        assert word in dom
    # The language switcher leads to the same page in English.
    (english,) = set(re.findall(r'<a href="([^"]*)" hreflang="en"', dom))
    resolved = urllib.parse.urljoin(f"{site_url}/{page}", english)
    assert resolved == f"{site_url}/{page.removeprefix('ko/')}"
    if page == "ko/guide/why_activations/":
        assert dom.count('class="katex"') >= 10
    # The theme's base, from which search loads its index: the Korean site's.
    (base,) = re.findall(r'"base": "([^"]*)"', dom)
    index = urllib.parse.urljoin(
        urllib.parse.urljoin(f"{site_url}/{page}", base), "search/search_index.json"
    )
    assert index == f"{site_url}/ko/search/search_index.json"


def search(site, *queries, lang=None):
    """What the site's search returns for each query: the location of the
    first document of each result group, best first. With `lang="ko"`, the
    Korean site's search (locations relative to /ko/)."""
    result = subprocess.run(
        [NODE, str(pathlib.Path(__file__).with_name("site_search.js")), str(site)]
        + (["--lang", lang] if lang else [])
        + list(queries),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(result.stdout)
    return {query: [group[0] for group in found[query]] for query in queries}


HANGUL = re.compile("[\uac00-\ud7a3]")


def search_index(site, lang=None):
    """The documents of a language's search index, by location."""
    root = site / lang if lang else site
    index = json.loads((root / "search" / "search_index.json").read_text())
    return {doc["location"]: doc for doc in index["docs"]}


@pytest.mark.skipif(NODE is None, reason="no Node.js to run the site's search")
def test_search_finds_every_public_name_and_korean_terms(built_site):
    pages = {
        name: f"api/{name}/"
        for name in keras_acts.__all__
        if name not in ("__version__", "testing")
    }
    pages.update({name: f"api/testing.{name}/" for name in keras_acts.testing.__all__})
    methods = ["plot_parameters", "layer_norms", "adapt", "attach", "flags"]
    korean = {
        "기울기 소실": "guide/why_activations/",
        "죽은 ReLU": "guide/dead_and_saturated/",
        "표준화": "guide/preprocessing/",
    }
    for lang in (None, "ko"):
        found = search(built_site, *pages, *methods, lang=lang)
        for name, page in pages.items():
            # The object's own API page, among the first five results.
            assert any(loc.startswith(page) for loc in found[name][:5]), (
                lang,
                name,
                found[name],
            )
        for method in methods:
            anchors = [location.partition("#")[2] for location in found[method][:5]]
            assert any(a.endswith(f".{method}") for a in anchors), (
                lang,
                method,
                found[method],
            )
    found = search(built_site, *korean, lang="ko")
    for term, page in korean.items():
        assert any(loc.startswith(page) for loc in found[term][:3]), found[term]


# An API name finds its API page and the page that teaches it, first.
GUIDES = {
    "PReLU": ("api/PReLU/", "layers/prelu/"),
    "GradientMonitor": ("api/GradientMonitor/", "guide/gradient_flow/"),
    "ActivationMonitor": ("api/ActivationMonitor/", "guide/dead_and_saturated/"),
    "Standardize": ("api/Standardize/", "guide/preprocessing/"),
    "replace_activations": (
        "api/replace_activations/",
        "guide/replacing_activations/",
    ),
}


@pytest.mark.skipif(NODE is None, reason="no Node.js to run the site's search")
@pytest.mark.parametrize("lang", [None, "ko"], ids=["en", "ko"])
def test_search_stays_in_its_language_and_finds_api_page_and_guide_first(
    built_site, lang
):
    docs = search_index(built_site, lang)
    found = search(built_site, *GUIDES, "Maxout", "Swish", "diagnose", lang=lang)
    for query, locations in found.items():
        assert locations, query
        for location in locations:
            doc = docs[location]  # every result is in this language's index
            assert not location.startswith("ko/"), (query, location)
            page = location.partition("#")[0].strip("/") or "index"
            if not (ROOT / "docs" / f"{page}.ko.md").exists():
                continue  # no Korean version (the API reference): English on both
            # A Korean page on the Korean site, an English one on the other.
            korean_text = bool(HANGUL.search(doc["title"] + doc["text"]))
            assert korean_text == (lang == "ko"), (query, location, doc["title"])
    for query, pages in GUIDES.items():
        first = {location.partition("#")[0] for location in found[query][:2]}
        assert first == set(pages), (lang, query, found[query][:4])


# Pages whose layout is checked at a phone's width and a desktop's, in both
# languages: the ones with wide tables, equations, long code and figures.
LAYOUT_PAGES = [
    "",
    "installation/",
    "layers/prelu/",
    "layers/srelu/",
    "claims/",
    "benchmarks/",
    "benchmarks_history/",
    "guide/gradient_flow/",
    "guide/dead_and_saturated/",
    "api/GradientMonitor/",
]
PHONE, DESKTOP = 390, 1280


@pytest.fixture(scope="module")
def layout(built_site, site_url, tmp_path_factory):
    """tests/site_layout.js's measurements of each page at each width."""
    pages = [
        f"/{SITE_PATH}/{language}{page}".replace("//", "/")
        for language in ("", "ko/")
        for page in LAYOUT_PAGES
    ]
    script = pathlib.Path(__file__).with_name("site_layout.js").read_text()
    (built_site.parent / "layout.html").write_text(
        '<!doctype html><html><body><pre id="result"></pre><script>'
        f"const PAGES = {json.dumps(pages)};\n"
        f"const WIDTHS = {json.dumps([PHONE, DESKTOP])};\n{script}</script>"
        "</body></html>"
    )
    root = site_url.removesuffix(f"/{SITE_PATH}")
    dom, console = render(
        f"{root}/layout.html",
        tmp_path_factory.mktemp("profile"),
        budget_ms=300000,
        window="1400,900",
    )
    assert console_errors(console) == []
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, flags=re.S)
    assert found and found.group(1), "the layout harness reported nothing"
    results = json.loads(html.unescape(found.group(1)))
    assert len(results) == 2 * len(pages)
    return {
        (result["page"].removeprefix(f"/{SITE_PATH}/"), result["width"]): result
        for result in results
    }


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_no_page_overflows_sideways(layout, width):
    for (page, at), result in layout.items():
        if at != width:
            continue
        # Wide tables and equations scroll within their own box; nothing
        # else may stick out of the content column or widen the page.
        assert result["overflowing"] == [], (page, width, result["overflowing"])
        assert result["page_overflow"] <= 0, (page, width)


def test_what_you_pay_fits_a_phone(layout):
    # The Benchmarks summary tables and the Claims verdicts show every column
    # on a phone, without scrolling.
    for language in ("", "ko/"):
        tables = layout[(f"{language}benchmarks/", PHONE)]["tables"]
        summary = [
            t
            for t in tables
            if t["heading"] in ("training-step", "the-layer-alone", "monitors")
        ]
        # Monitors has two: by how often they record, and at their defaults.
        assert len(summary) == 4, tables
        assert all(t["hidden"] <= 0 for t in summary), (language, summary)
        verdicts = layout[(f"{language}claims/", PHONE)]["tables"][0]
        assert verdicts["hidden"] <= 0, (language, verdicts)


MIN_FIGURE_TEXT_PX = 11
FIGURE_SCALE = re.compile(r"scale\((0\.\d+) -0\.\d+\)")


def smallest_text_px(svg: str, shown_width: float) -> float:
    """The smallest text of a make_figures.py SVG shown `shown_width` px wide:
    each glyph is an outline at scale(size / 100) in the SVG's units."""
    view_width = float(re.search(r'viewBox="0 0 ([\d.]+)', svg).group(1))
    sizes = [100 * float(s) for s in FIGURE_SCALE.findall(svg)]
    return min(sizes) * shown_width / view_width


def test_figure_text_is_readable_on_a_phone(layout):
    figures = [
        (page, figure)
        for (page, width), result in layout.items()
        if width == PHONE
        for figure in result["figures"]
    ]
    assert len(figures) >= 20
    # At least 11 CSS pixels in the page's column on a 390 px screen (12 pt
    # text in a figure at most 5 inches wide); more on a desktop.
    small = [
        (page, f["src"], round(f["text_px"], 1))
        for page, f in figures
        if f["text_px"] < MIN_FIGURE_TEXT_PX
    ]
    assert small == []
    # Every figure of the site, also on the pages not measured above, at the
    # width a figure is shown at in a phone's column.
    column = min(f["width"] for _, f in figures)
    svgs = sorted((ROOT / "docs" / "images").rglob("*.svg"))
    assert len(svgs) >= 40
    small = [
        (str(svg.relative_to(ROOT)), round(px, 1))
        for svg in svgs
        if (text := svg.read_text()) and FIGURE_SCALE.search(text)
        if (px := smallest_text_px(text, column)) < MIN_FIGURE_TEXT_PX
    ]
    assert small == [], column


def test_no_code_block_scrolls_on_a_desktop(layout):
    for (page, width), result in layout.items():
        if width == DESKTOP:
            assert result["code"] == [], (page, result["code"])


FENCE = re.compile(r"^\s*(```+|~~~+)\s*(\S*)")


def code_lines(page: pathlib.Path):
    """The lines of a page's code blocks that do not wrap: all but what an
    example prints (```text, which wraps on a desktop)."""
    language = None
    for line in page.read_text().splitlines():
        if fence := FENCE.match(line):
            language = (fence.group(2) or "plain") if language is None else None
        elif language not in (None, "text"):
            yield line.rstrip()


def test_every_code_line_of_the_docs_fits_a_desktop_code_block(layout):
    # The pages measured above hold the longest lines, but any page may get
    # one: each line of code must fit the columns a code block holds.
    columns = min(
        result["code_columns"]
        for (_, width), result in layout.items()
        if width == DESKTOP and result["code_columns"] is not None
    )
    lines = [
        (str(page.relative_to(ROOT)), len(line), line.strip()[:40])
        for page in sorted((ROOT / "docs").rglob("*.md"))
        for line in code_lines(page)
    ]
    assert max(length for _, length, _ in lines) >= 80
    assert [line for line in lines if line[1] > columns] == [], columns


def test_korean_text_breaks_between_words(layout):
    for (page, width), result in layout.items():
        expected = "keep-all" if page.startswith("ko/") else "normal"
        assert result["word_break"] == expected, (page, width)
        if page.startswith("ko/") and result["table_link_word_break"]:
            assert result["table_link_word_break"] == "keep-all", (page, width)


@pytest.mark.parametrize("page", ["api/", "api/PReLU/", "api/GradientMonitor/"])
def test_korean_api_pages_say_they_are_in_english(built_site, page):
    korean = (built_site / "ko" / page / "index.html").read_text()
    english = (built_site / page / "index.html").read_text()
    assert "영어 페이지" in korean and "영어 페이지" not in english
    assert '<html lang="ko"' in korean
    # Under the title, before the reference itself.
    assert korean.index("</h1>") < korean.index("영어 페이지")


@pytest.mark.parametrize("language", ["", "ko/"])
def test_guides_link_their_notebooks(built_site, language):
    for name in ("gradient_flow", "dead_and_saturated", "preprocessing"):
        folder = built_site / language / "guide" / name
        page = (folder / "index.html").read_text()
        assert f'<a href="{name}.ipynb" download>' in page
        notebook = json.loads((folder / f"{name}.ipynb").read_text())
        assert notebook["metadata"]["keras_acts"]["language"] == (
            language.rstrip("/") or "en"
        )
        assert any(cell["cell_type"] == "code" for cell in notebook["cells"])
    # A guide without code has no notebook.
    assert (
        "ipynb"
        not in (built_site / language / "guide/why_activations/index.html").read_text()
    )
