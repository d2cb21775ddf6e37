"""The rendered book in headless Chromium, offline (``make browser-test``; fixtures in conftest.py).

For every HTML page of the built book: it loads with no console error, no uncaught page error, no
failed local request and no request to any other host (all such requests are blocked); all its
math is typeset by the MathJax copy shipped in ``_static/mathjax`` (no TeX left as text, no MathJax
error) and no display equation is wider than the text column at 1280 px; every image loads and has
a real alt text; every link into the book reaches an existing page and, with a ``#fragment``, an
element with that id. Each notebook chapter's Binder and Colab buttons open that chapter's own
notebook (the URLs are checked, never fetched). In two chapters, a collapsed code cell (tag
``hide-input``) shows its figure with the code hidden, and its toggle opens and closes the code.
Screenshots of two pages, of that collapsed cell before and after the toggle, and the README's
picture of the book, go to ``screenshots/`` beside the HTML folder (``_build/screenshots/``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from browser_tests.book import REPO, VIEWPORT, is_remote, local_target, scan

REMOTE_CSS = re.compile(r"""(?:url\(|@import)\s*['"]?\s*(?:https?:)?//[^)'"\s]+""", re.IGNORECASE)


def fail_with(what: str, problems) -> None:
    """Fail the test with one line per problem (no traceback: the list is the message)."""
    problems = list(problems)
    if problems:
        pytest.fail(f"{what}:\n  " + "\n  ".join(problems), pytrace=False)


# -- loading, offline ---------------------------------------------------------------------------


def test_book_was_built(html_dir):
    """Guard against passing trivially on an empty or partial folder."""
    chapters = list((html_dir / "chapters").glob("*.html"))
    assert chapters, f"{html_dir} holds no chapters/*.html: is it a build of this book?"


def test_page_loads_offline_without_errors(page, load_report):
    report = load_report(page)
    problems = (
        [f"blocked off-site request: {url}" for url in report.events.blocked]
        + [f"failed request: {text}" for text in report.events.failed]
        + [f"console error: {text}" for text in report.events.console_errors]
        + [f"page error: {text}" for text in report.events.page_errors]
    )
    fail_with(page, problems)


def test_page_references_no_remote_asset(page, html_dir):
    """No script, stylesheet, font, image or frame of the page is fetched from another host."""
    remote = [f"<{tag}> {url}" for tag, url in scan(html_dir / page).assets if is_remote(url)]
    text = (html_dir / page).read_text(encoding="utf-8")
    remote += [f"CSS {m.group(0)}" for m in REMOTE_CSS.finditer(text)]
    fail_with(f"{page} loads from the network", remote)


def test_stylesheets_reference_no_remote_asset(html_dir):
    """Fonts and images named in the site's CSS files are local too."""
    remote = []
    for css in sorted(html_dir.rglob("*.css")):
        for match in REMOTE_CSS.finditer(css.read_text(encoding="utf-8", errors="replace")):
            remote.append(f"{css.relative_to(html_dir)}: {match.group(0)}")
    fail_with("stylesheets load from the network", remote)


# -- math ---------------------------------------------------------------------------------------


def test_math_is_typeset(content_page, load_report, server):
    page = content_page
    report = load_report(page)
    data = report.data
    problems = []
    if data["math"] and not data["mathjax"]:
        problems.append(f"{len(data['math'])} math elements but MathJax did not start")
    for src in data["mathjaxScripts"]:
        if not src.startswith(server + "_static/mathjax/"):
            problems.append(f"MathJax not from the site's _static/mathjax/: {src}")
    for i, math in enumerate(data["math"]):
        kind = "display" if math["display"] else "inline"
        where = f"{kind} math #{i + 1} ‹{math['source']}›"
        if not math["typeset"]:
            problems.append(f"{where} not typeset")
        if math["raw"]:
            problems.append(f"{where} leaves TeX as text: {math['raw'][:80]!r}")
        if math["errorNodes"]:
            problems.append(f"{where} shows a MathJax error")
    problems += data["mathErrors"]
    if data["mathjax"] and data["mathItems"] < len(data["math"]):
        problems.append(f"MathJax typeset {data['mathItems']} formulas of {len(data['math'])}")
    problems += [
        f"TeX left as text (outside code) in section {raw['section']!r}: ...{raw['text']}..."
        for raw in data["rawTex"]
    ]
    fail_with(page, problems)


def test_display_math_fits_the_column(content_page, load_report):
    """No display equation is wider than the text column (at 1280 px it would scroll sideways)."""
    page = content_page
    report = load_report(page)
    fail_with(
        f"{page}: display math wider than the text column at {VIEWPORT['width']} px",
        (
            f"display math #{i + 1} is {math['overflow']} px too wide: ‹{math['source']}›"
            for i, math in enumerate(report.data["math"])
            if math["overflow"] > 1
        ),
    )


# -- images -------------------------------------------------------------------------------------


def test_images_load(content_page, load_report):
    page = content_page
    report = load_report(page)
    broken = [
        f"{image['src']} (section {image['section']!r})"
        for image in report.data["images"]
        if not (image["complete"] and image["naturalWidth"] > 0)
    ]
    fail_with(f"{page}: images that did not load", broken)


IMAGE_FILE = re.compile(r"^[\w./\\%-]+\.(png|jpe?g|gif|svg|webp|bmp|tiff?)$", re.IGNORECASE)
PLACEHOLDER_ALT = {"image", "img", "figure", "fig", "plot", "graph", "chart", "picture", "output"}
MATPLOTLIB_REPR = re.compile(r"^<(Figure|Axes)\b.*>$")


def alt_text_problem(src: str, alt: str | None) -> str | None:
    """Why ``alt`` is not a real description of the image at ``src``, or None if it is."""
    if alt is None:
        return "no alt attribute"
    text = alt.strip()
    if not text:
        return "empty alt text"
    if text in (src, Path(src).name) or IMAGE_FILE.match(text):
        return "alt text is its file name"
    if text.lower() in PLACEHOLDER_ALT or MATPLOTLIB_REPR.match(text):
        return f"placeholder alt text ({text!r})"
    return None


def test_images_have_alt_text(content_page, load_report):
    """Every image carries a description (in a chapter: cell metadata mystnb.image.alt)."""
    page = content_page
    report = load_report(page)
    images = report.data["images"]
    problems = []
    for number, image in enumerate(images, start=1):
        problem = alt_text_problem(image["src"], image["alt"])
        if problem:
            where = f"section {image['section']!r}, {Path(image['src']).name}"
            problems.append(f"image {number} ({where}): {problem}")
    fail_with(f"{page}: {len(problems)} of {len(images)} images lack alt text", problems)


# -- links --------------------------------------------------------------------------------------


def test_internal_links_resolve(page, load_report, server, html_dir):
    """TOC, cross-reference, footnote and citation links reach an existing page and element."""
    report = load_report(page)
    if report.redirect is not None:
        target = local_target(html_dir, server, report.redirect)
        assert target is not None and target[0].is_file(), f"{page} redirects to a missing page"
        return
    problems = set()
    for link in report.data["links"]:
        target = local_target(html_dir, server, link["href"])
        if target is None:
            continue  # another host (not fetched: the book is read offline) or another scheme
        path, fragment = target
        label = f"{link['text']!r} -> {link['raw']}"
        if not path.is_file():
            problems.add(f"{label}: no such file {path.relative_to(html_dir).as_posix()}")
        elif fragment and path.suffix == ".html" and fragment not in scan(path).ids:
            problems.add(f"{label}: no id {fragment!r} in {path.relative_to(html_dir).as_posix()}")
    fail_with(f"{page}: broken links", sorted(problems))


# -- launch buttons -----------------------------------------------------------------------------


def expected_launch_urls(notebook_page: str, config: dict) -> dict[str, str]:
    """The Binder and Colab URLs of one chapter, from ``_config.yml`` (never fetched)."""
    repository = config["repository"]
    launch = config["launch_buttons"]
    owner, name = repository["url"].rstrip("/").split("github.com/")[1].split("/")[:2]
    branch = repository.get("branch", "main")
    book = repository.get("path_to_book", "").strip("/")
    stem = notebook_page[: -len(".html")]
    # the file in the repository the page is built from (a notebook, or a MyST notebook)
    source = next(
        (f"{stem}{ext}" for ext in (".ipynb", ".md") if (REPO / book / f"{stem}{ext}").is_file()),
        f"{stem}.ipynb",
    )
    path = f"{book}/{source}" if book else source
    ui = {"jupyterlab": "lab/tree", "classic": "tree"}[launch.get("notebook_interface", "classic")]
    return {
        "Binder": f"{launch['binderhub_url'].rstrip('/')}/v2/gh/{owner}/{name}/{branch}"
        f"?urlpath={ui}/{path}",
        "Colab": f"{launch['colab_url'].rstrip('/')}/github/{owner}/{name}/blob/{branch}/{path}",
    }


def test_launch_buttons_open_this_chapter(notebook_page, load_report, book_config):
    report = load_report(notebook_page)
    expected = expected_launch_urls(notebook_page, book_config)
    launch = book_config["launch_buttons"]
    prefixes = {
        "Binder": launch["binderhub_url"].rstrip("/"),
        "Colab": launch["colab_url"].rstrip("/"),
    }
    # the launch menu's links only: a chapter's text may link other notebooks (its exercises) on Binder
    hrefs = {link["href"] for link in report.data["links"] if link.get("launch")}
    problems = []
    for service, url in expected.items():
        found = sorted(href for href in hrefs if href.startswith(prefixes[service]))
        if found != [url]:
            problems.append(f"{service}: expected {url}, found {found or 'no button'}")
    fail_with(notebook_page, problems)


# -- collapsed cells ----------------------------------------------------------------------------

# Chapters whose collapsed plotting cells are opened and closed (each has at least one).
COLLAPSED_PAGES = ["chapters/02_internal_covariate_shift.html", "chapters/05_inference.html"]

COLLAPSED_CELL = "div.cell.tag_hide-input"


@pytest.mark.parametrize("page_path", COLLAPSED_PAGES)
def test_collapsed_cells_show_outputs_and_toggle(open_page, html_dir, page_path):
    """A hide-input cell: code hidden, output shown, and the toggle reveals and hides the code."""
    out = html_dir.parent / "screenshots"
    out.mkdir(exist_ok=True)
    context, page, events = open_page(
        page_path, viewport={"width": VIEWPORT["width"], "height": 900}
    )
    try:
        page.evaluate(WAIT_FOR_PAGE_JS)
        cells = page.locator(COLLAPSED_CELL)
        assert cells.count() >= 3, f"{page_path}: only {cells.count()} collapsed cells"
        problems = []
        for k in range(cells.count()):
            cell = cells.nth(k)
            if cell.locator("details > summary").count() != 1:
                problems.append(f"cell {k}: no toggle")
            elif cell.locator("details .cell_input").is_visible():
                problems.append(f"cell {k}: its code is shown before the toggle is used")
        fail_with(f"{page_path}: collapsed cells", problems)

        figure_cell = cells.filter(has=page.locator(".cell_output img")).first
        assert figure_cell.count() == 1, f"{page_path}: no collapsed cell with a figure"
        code, image = (
            figure_cell.locator(".cell_input"),
            figure_cell.locator(".cell_output img").first,
        )
        figure_cell.scroll_into_view_if_needed()
        assert image.is_visible() and image.evaluate("img => img.naturalWidth") > 0, (
            f"{page_path}: the collapsed cell's figure is not shown"
        )
        assert not code.is_visible()
        stem = Path(page_path).stem
        figure_cell.screenshot(path=str(out / f"{stem}_collapsed.png"))
        figure_cell.locator("details > summary").click()
        code.wait_for(state="visible")
        assert figure_cell.locator("details").evaluate("d => d.open"), "the toggle did not open"
        assert image.is_visible(), "opening the code hid the figure"
        figure_cell.screenshot(path=str(out / f"{stem}_expanded.png"))
        figure_cell.locator("details > summary").click()
        code.wait_for(state="hidden")
    finally:
        context.close()
    fail_with(page_path, events.console_errors + events.page_errors)


# -- screenshots --------------------------------------------------------------------------------

# (page, CSS selector of what to centre in the window, file name): one page with display math,
# one with a figure.
SCREENSHOTS = [
    ("chapters/04_backward_pass.html", "article div.math", "04_backward_pass_math.png"),
    ("chapters/01_input_normalization.html", "article img", "01_input_normalization_figure.png"),
]
# The README's picture of the book, 1280x800: a section of chapter 4 at the top of the window,
# with the book's sidebar, the page's contents and launch buttons, inline and display math.
README_SHOT = ("chapters/04_backward_pass.html", "section#the-compact-formula", "book.png")
README_MAX_BYTES = 300_000

SIDEBAR_TO_TOP_JS = """
() => document
  .querySelectorAll('.bd-sidebar-primary, .bd-sidebar-primary .sidebar-primary-items__start')
  .forEach((el) => { el.scrollTop = 0; })
"""

WAIT_FOR_PAGE_JS = """
async () => {
  const images = Array.from(document.images);
  for (const img of images) img.loading = 'eager';
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
}
"""


def _shot(open_page, page_path, selector, viewport, block="center"):
    context, page, events = open_page(page_path, viewport=viewport)
    try:
        page.evaluate(WAIT_FOR_PAGE_JS)
        if selector is not None:
            element = page.locator(selector).first
            assert element.count() == 1, f"{page_path}: nothing matches {selector!r}"
            element.evaluate("(el, block) => el.scrollIntoView({block})", block)
            box = element.bounding_box()
            assert box and box["y"] >= 0 and box["y"] < viewport["height"], (
                f"{page_path}: {selector!r} is not in view after scrolling"
            )
            if selector.endswith("div.math"):
                assert element.locator("mjx-container").count() == 1, "the math is not typeset"
            if selector.endswith("img"):
                assert element.evaluate("img => img.naturalWidth") > 0, "the figure did not load"
        # the theme scrolls the sidebar to the current chapter; show it from the book's title
        page.evaluate(SIDEBAR_TO_TOP_JS)
        page.wait_for_timeout(300)  # let the scroll-linked header settle
        png = page.screenshot(full_page=False)
    finally:
        context.close()
    assert not events.blocked, f"{page_path}: blocked off-site requests {events.blocked}"
    return png


def test_screenshots(open_page, html_dir, pytestconfig):
    """Viewport-wide screenshots for a person to look at: _build/screenshots/*.png."""
    out = html_dir.parent / "screenshots"
    out.mkdir(exist_ok=True)
    viewport = {"width": VIEWPORT["width"], "height": 900}
    for page_path, selector, name in SCREENSHOTS:
        (out / name).write_bytes(_shot(open_page, page_path, selector, viewport))

    page_path, selector, name = README_SHOT
    png = optimise_png(_shot(open_page, page_path, selector, VIEWPORT, block="start"))
    (out / name).write_bytes(png)
    assert len(png) <= README_MAX_BYTES, f"README screenshot is {len(png)} bytes"
    readme_png = pytestconfig.getoption("--readme-png")
    if readme_png:
        target = Path(readme_png)
        if not target.is_absolute():
            target = pytestconfig.invocation_params.dir / target
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png)


def optimise_png(png: bytes) -> bytes:
    """The screenshot as a 256-colour PNG (a page is mostly flat colour and text)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    quantised = image.quantize(
        colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    buffer = io.BytesIO()
    quantised.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
