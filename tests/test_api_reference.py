"""Every public name has its own page in the API reference (docs/api/<name>.md),
listed in the nav and in the index page docs/api.md."""

import importlib
import importlib.util
import inspect
import pathlib
import re

import pytest

import keras_acts

# TensorFlow only: checks the docs once, whatever the backend.
pytestmark = pytest.mark.tensorflow_only
# mkdocs.yml is read with PyYAML, which the docs tools bring (the dev extra).
yaml = pytest.importorskip("yaml")

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API_DIR = DOCS / "api"
INDEX = DOCS / "api.md"
DIRECTIVE = re.compile(r"^::: ([\w.]+)$", re.M)
# A row of the index page's tables: | [PReLU](api/PReLU.md) | Summary. |
ROW = re.compile(r"^\| \[([\w.]+)\]\((api/[\w.]+\.md)\) \| (.*) \|$")


def public_names():
    """`keras_acts.__all__`, with `testing` expanded to its functions:
    the page names, such as `PReLU` and `testing.check_gradients`."""
    names = []
    for name in keras_acts.__all__:
        if name == "__version__":
            continue
        if name == "testing":
            names += [f"testing.{function}" for function in keras_acts.testing.__all__]
        else:
            names.append(name)
    return names


def public_object(name):
    target = keras_acts
    for part in name.split("."):
        target = getattr(target, part)
    return target


def is_module(path):
    try:
        return importlib.util.find_spec(path) is not None
    except ModuleNotFoundError:
        return False


def resolve_as_griffe_does(path):
    """The object `::: path` documents. Griffe, which mkdocstrings uses, gives
    a submodule precedence over a member of the same name: for it,
    `keras_acts.diagnose` is the module keras_acts/diagnose.py, not the
    function the package exports under that name."""
    parts = path.split(".")
    target = importlib.import_module(parts[0])
    for index in range(1, len(parts)):
        prefix = ".".join(parts[: index + 1])
        if is_module(prefix):
            target = importlib.import_module(prefix)
        else:
            target = getattr(target, parts[index])
    return target


def expected_directive(name):
    """`keras_acts.<name>`, or for a function that shadows the submodule it
    lives in, the function inside that submodule."""
    path = f"keras_acts.{name}"
    if is_module(path):
        path += "." + name.rpartition(".")[2]
    return path


def directives(page):
    return DIRECTIVE.findall(page.read_text())


def api_pages():
    return sorted(API_DIR.glob("*.md"))


def load_mkdocs_config():
    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml builds Python objects (the toc slugify function): not needed here.
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *args: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)


def api_nav():
    """The "API reference" section of mkdocs.yml's nav, as written."""
    nav = load_mkdocs_config()["nav"]
    (reference,) = [entry["API reference"] for entry in nav if "API reference" in entry]
    return reference


def nav_sections():
    """The "API reference" section of the nav: `{sub-section title: [paths]}`,
    the pages outside a sub-section under the key None."""
    sections = {None: []}
    for entry in api_nav():
        if isinstance(entry, str):
            sections[None].append(entry)
            continue
        ((title, value),) = entry.items()
        if isinstance(value, str):
            sections[None].append(value)
        else:
            sections[title] = [
                item if isinstance(item, str) else next(iter(item.values()))
                for item in value
            ]
    return sections


def index_sections():
    """The index page's parts: `{heading: [(linked page, summary)]}`."""
    sections = {}
    heading = None
    for line in INDEX.read_text().splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            sections[heading] = []
        elif match := ROW.match(line):
            name, page, text = match.groups()
            assert page == f"api/{name}.md", line
            sections[heading].append((page, text))
    return sections


def summary(obj):
    """The first paragraph of the docstring, on one line."""
    return " ".join(inspect.getdoc(obj).split("\n\n")[0].split())


@pytest.mark.parametrize("name", public_names())
def test_every_public_name_has_its_own_page(name):
    page = API_DIR / f"{name}.md"
    assert page.is_file(), f"no page {page.relative_to(ROOT)} for keras_acts.{name}"
    path = expected_directive(name)
    assert directives(page) == [path]
    assert resolve_as_griffe_does(path) is public_object(name)
    if path != f"keras_acts.{name}":
        # The heading names the object as users import it.
        assert f"heading: keras_acts.{name}\n" in page.read_text()


def test_every_page_documents_a_public_object():
    public = {id(public_object(name)) for name in public_names()}
    for page in api_pages():
        (path,) = directives(page)
        assert id(resolve_as_griffe_does(path)) in public, page.name


def test_every_page_is_in_the_nav():
    sections = nav_sections()
    in_nav = [path for paths in sections.values() for path in paths]
    assert sections[None] == ["api.md"]
    pages = [f"api/{page.name}" for page in api_pages()]
    assert sorted(in_nav) == sorted(["api.md", *pages])


def test_the_index_links_every_page_in_its_part_of_the_nav():
    index = index_sections()
    nav = nav_sections()
    del nav[None]
    assert list(index) == list(nav)
    for part, rows in index.items():
        assert [page for page, _ in rows] == nav[part], part
    linked = sorted(page for rows in index.values() for page, _ in rows)
    assert linked == sorted(f"api/{page.name}" for page in api_pages())


def test_the_index_gives_each_object_its_summary():
    for rows in index_sections().values():
        for page, text in rows:
            name = page.removeprefix("api/").removesuffix(".md")
            assert text == summary(public_object(name)), name


def test_the_nav_sections_have_korean_titles():
    (i18n,) = [p["i18n"] for p in load_mkdocs_config()["plugins"] if "i18n" in p]
    (korean,) = [lang for lang in i18n["languages"] if lang["locale"] == "ko"]
    titles = [title for title in nav_sections() if title is not None]
    assert [t for t in titles if t not in korean["nav_translations"]] == []


def test_object_pages_take_their_titles_from_their_headings():
    # A title given in the nav would go through nav_translations, which
    # translates every title it knows: the class Diagnosis as the section
    # Diagnosis. An object's name is never translated.
    sections = [entry for entry in api_nav() if isinstance(entry, dict)]
    for ((title, value),) in (section.items() for section in sections):
        if isinstance(value, list):
            assert [item for item in value if not isinstance(item, str)] == [], title


def _source_links_hook():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location(
        "source_links", DOCS / "hooks" / "source_links.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", public_names())
def test_every_page_links_the_source_lines_of_its_object(name):
    hook = _source_links_hook()
    (path,) = directives(API_DIR / f"{name}.md")
    link = hook.source_link(path, "https://github.com/owner/repo/")
    match = re.fullmatch(
        r"Source: \[`(?P<file>[\w/.]+)`, lines (?P<first>\d+) to (?P<last>\d+)\]"
        r"\(https://github.com/owner/repo/blob/main/(?P=file)"
        r"#L(?P=first)-L(?P=last)\)",
        link,
    )
    assert match, link
    obj = public_object(name)
    lines, first = inspect.getsourcelines(obj)  # from its decorators on
    assert pathlib.Path(inspect.getsourcefile(obj)) == ROOT / match["file"]
    assert (int(match["first"]), int(match["last"])) == (
        first,
        first + len(lines) - 1,
    )


def test_only_api_pages_get_source_links():
    hook = _source_links_hook()
    config = {"repo_url": "https://github.com/owner/repo"}

    def page(uri):
        return type("Page", (), {"file": type("File", (), {"src_uri": uri})})

    text = "# PReLU\n\nGuide.\n\n::: keras_acts.PReLU\n"
    linked = hook.on_page_markdown(text, page("api/PReLU.md"), config)
    assert linked.index("Source: [`keras_acts/layers/prelu.py`") < linked.index(
        "::: keras_acts.PReLU"
    )
    assert hook.on_page_markdown(text, page("guide/x.md"), config) == text
