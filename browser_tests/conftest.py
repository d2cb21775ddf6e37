"""Fixtures of the browser test of the rendered book (``make browser-test``).

The built HTML (``--book-html``, default ``_build/html``) is served by Python's ``http.server`` on
127.0.0.1 (a free port, in a thread of this process) and opened in headless Chromium: Debian's
``chromium``, driven by Playwright with ``executable_path`` (Playwright downloads no browser). Every
request that does not go to that local server is aborted and recorded as a failure: the book must
read offline.

Each page is opened once, in a fresh browser context; what the checks need is collected into a
`PageReport` and cached for the session, so every check of one page reads the same load.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml

from browser_tests.book import (
    COLLECT_JS,
    REPO,
    TIMEOUT_MS,
    VIEWPORT,
    Events,
    PageReport,
    book_pages,
    content_pages,
    meta_refresh_target,
    notebook_pages,
)

# Where Debian puts the browser itself; /usr/bin/chromium is a shell wrapper that adds flags
# (remote extensions, ...) and can print shell noise on stderr, so the binary is preferred.
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")


def pytest_addoption(parser):
    group = parser.getgroup("browser test of the rendered book")
    group.addoption(
        "--book-html",
        default=None,
        help="the built book's HTML folder (default: $BOOK_HTML, else _build/html)",
    )
    group.addoption(
        "--chromium",
        default=None,
        help="the Chromium executable (default: $CHROMIUM, else Debian's chromium)",
    )
    group.addoption(
        "--readme-png",
        default=None,
        help="also write the README's screenshot (1280x800, optimised) here, e.g. docs/book.png",
    )


_HTML_KEY = pytest.StashKey[Path]()
_CHROMIUM_KEY = pytest.StashKey[str]()


def _book_html(config) -> Path:
    value = config.getoption("--book-html") or os.environ.get("BOOK_HTML")
    if not value:
        return REPO / "_build" / "html"
    path = Path(value)
    return path if path.is_absolute() else (config.invocation_params.dir / path)


def _chromium(config) -> str | None:
    value = config.getoption("--chromium") or os.environ.get("CHROMIUM")
    if value:
        return shutil.which(value)
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def pytest_configure(config):
    html = _book_html(config).resolve()
    if not (html / "index.html").is_file():
        raise pytest.UsageError(
            f"no built book at {html} (index.html missing): build it first with `make book`, "
            "or point the test at a build with --book-html=PATH (make browser-test HTML=PATH)"
        )
    chromium = _chromium(config)
    if chromium is None:
        wanted = config.getoption("--chromium") or os.environ.get("CHROMIUM")
        raise pytest.UsageError(
            f"Chromium not found ({wanted!r} is not an executable)"
            if wanted
            else "Chromium not found: the browser test needs Debian's chromium "
            "(`apt-get install -y chromium` as root), or pass --chromium=PATH / set CHROMIUM"
        )
    config.stash[_HTML_KEY] = html
    config.stash[_CHROMIUM_KEY] = chromium


def pytest_generate_tests(metafunc):
    html = metafunc.config.stash[_HTML_KEY]
    if "page" in metafunc.fixturenames:
        metafunc.parametrize("page", book_pages(html))
    if "content_page" in metafunc.fixturenames:
        metafunc.parametrize("content_page", content_pages(html))
    if "notebook_page" in metafunc.fixturenames:
        metafunc.parametrize("notebook_page", notebook_pages(html))


@pytest.fixture(scope="session")
def html_dir(pytestconfig) -> Path:
    return pytestconfig.stash[_HTML_KEY]


@pytest.fixture(scope="session")
def book_config() -> dict:
    """The repository's ``_config.yml`` (the launch buttons' settings)."""
    return yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))


# -- the local server ---------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="session")
def server(html_dir):
    """Base URL (``http://127.0.0.1:PORT/``) of a server of ``html_dir`` in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# -- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser(pytestconfig):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=pytestconfig.stash[_CHROMIUM_KEY],
            headless=True,
            # /dev/shm is small in containers; Chromium then uses /tmp.
            args=["--disable-dev-shm-usage"],
        )
    except Exception:
        playwright.stop()
        raise
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture(scope="session")
def open_page(browser, server):
    """``open_page(page_path) -> (context, page, events)``: a fresh offline context on one page.

    ``events`` collects console errors, uncaught page errors, aborted off-site requests and
    local requests that failed or answered with an HTTP error, from the first request on.
    The caller closes the context.
    """

    def _open(path: str, viewport: dict | None = None):
        context = browser.new_context(viewport=viewport or VIEWPORT, service_workers="block")
        context.set_default_timeout(TIMEOUT_MS)
        events = Events()

        def route(route):
            url = route.request.url
            if url.startswith(server):
                route.continue_()
            else:
                events.blocked.append(url)
                route.abort("blockedbyclient")

        context.route("**/*", route)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: (
                events.console_errors.append(f"{msg.text} ({msg.location.get('url', '')})")
                if msg.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: events.page_errors.append(str(error)))
        page.on(
            "requestfailed",
            lambda request: (
                events.failed.append(f"{request.url}: {request.failure}")
                if request.url.startswith(server)
                else None
            ),
        )
        page.on(
            "response",
            lambda response: (
                events.failed.append(f"{response.url}: HTTP {response.status}")
                if response.status >= 400
                else None
            ),
        )
        response = page.goto(server + path, wait_until="load")
        if response is None or response.status != 200:
            events.failed.append(
                f"{server + path}: HTTP {response.status if response else 'no response'}"
            )
        return context, page, events

    return _open


@pytest.fixture(scope="session")
def load_report(open_page, server, html_dir):
    """``load_report(page_path) -> PageReport``, each page loaded once per session."""
    reports: dict[str, PageReport] = {}

    def _load(path: str) -> PageReport:
        if path not in reports:
            redirect = meta_refresh_target(html_dir / path)
            context, page, events = open_page(path)
            try:
                if redirect is not None:
                    # A redirect stub (index.html): follow it; the target is checked on its own.
                    redirect = urljoin(server + path, redirect)
                    page.wait_for_url(redirect)
                    data = {}
                else:
                    data = page.evaluate(COLLECT_JS)
            finally:
                context.close()
            reports[path] = PageReport(path, server + path, events, redirect, data)
        return reports[path]

    return _load
