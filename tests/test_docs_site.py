"""The built site works in a browser, offline: pages load without console
errors and the math is rendered by the KaTeX shipped with the site."""

import functools
import http.server
import pathlib
import re
import shutil
import subprocess
import sys
import threading

import pytest

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


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
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
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def render(url, profile):
    """The page's DOM after its scripts ran, and its console messages."""
    result = subprocess.run(
        [
            CHROMIUM,
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
            "--virtual-time-budget=10000",
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


def test_math_is_rendered_offline(site_url, tmp_path):
    dom, console = render(f"{site_url}/guide/why_activations/", tmp_path)
    assert console_errors(console) == []
    assert dom.count('class="katex"') >= 10  # KaTeX's output elements
    assert 'class="katex-display"' in dom
    # KaTeX keeps the source in <annotation> elements; outside them no
    # arithmatex delimiter may be left, or some math was not rendered.
    visible = re.sub(r"<annotation.*?</annotation>", "", dom, flags=re.S)
    assert "\\(" not in visible and "\\[" not in visible
