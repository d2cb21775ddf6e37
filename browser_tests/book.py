"""What the browser test of the rendered book shares: page lists, the in-page probe, HTML scanning.

Used by conftest.py (fixtures) and test_rendered_book.py (the checks); see ``make browser-test``.
"""

from __future__ import annotations

import dataclasses
import functools
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parent.parent

# Folders of the HTML output that hold assets, not pages of the book.
ASSET_DIRS = {"_static", "_sources", "_images", "_downloads", "_panels_static"}

VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 30_000  # per page load / MathJax typesetting; a page takes about a second


def book_pages(html: Path) -> list[str]:
    """Every HTML page of the book, as paths relative to ``html`` with ``/``, sorted."""
    pages = []
    for path in html.rglob("*.html"):
        rel = path.relative_to(html)
        if rel.parts[0] not in ASSET_DIRS:
            pages.append(rel.as_posix())
    return sorted(pages)


def content_pages(html: Path) -> list[str]:
    """The pages with content of their own: all but redirect stubs such as ``index.html``."""
    return [page for page in book_pages(html) if meta_refresh_target(html / page) is None]


def notebook_pages(html: Path) -> list[str]:
    """The pages built from a notebook (Sphinx keeps its source as ``_sources/<page>.ipynb``)."""
    return [
        page
        for page in book_pages(html)
        if (html / "_sources" / page).with_suffix(".ipynb").is_file()
    ]


@dataclasses.dataclass
class Events:
    """What the browser reported while one page loaded."""

    console_errors: list[str] = dataclasses.field(default_factory=list)
    page_errors: list[str] = dataclasses.field(default_factory=list)
    blocked: list[str] = dataclasses.field(default_factory=list)  # requests to other hosts
    failed: list[str] = dataclasses.field(default_factory=list)  # local requests that failed


@dataclasses.dataclass
class PageReport:
    """What one load of one page showed: its events and what `COLLECT_JS` returned."""

    path: str
    url: str
    events: Events
    redirect: str | None  # the absolute URL a redirect stub sends the browser to
    data: dict


COLLECT_JS = r"""
async () => {
  const out = {};

  // Images: load lazy ones now, wait until every image has loaded or failed.
  const images = Array.from(document.images);
  for (const img of images) img.loading = 'eager';
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  // the heading of the section an element is in, to say where a problem is
  const sectionOf = (el) => {
    const section = el.closest('section');
    const heading = section && section.querySelector('h1, h2, h3, h4, h5, h6');
    return heading ? heading.textContent.replace(/#$/, '').trim().replace(/\s+/g, ' ') : '';
  };
  out.images = images.map((img) => ({
    src: img.getAttribute('src') || '',
    alt: img.getAttribute('alt'),
    complete: img.complete,
    naturalWidth: img.naturalWidth,
    section: sectionOf(img),
  }));

  // Math: Sphinx marks inline math span.math and display math div.math.
  const mj = window.MathJax;
  out.mathjax = !!(mj && mj.startup && mj.startup.promise);
  out.mathjaxScripts = Array.from(document.scripts).map((s) => s.src).filter((s) => /mathjax/i.test(s));
  out.mathErrors = [];
  const texOf = new Map();  // MathJax's output element -> the TeX it was typeset from
  if (out.mathjax) {
    await mj.startup.promise;
    out.mathjaxVersion = mj.version;
    const items = Array.from(mj.startup.document.math);
    for (const item of items) texOf.set(item.typesetRoot, item.math);
    out.mathItems = items.length;
    for (const item of items) {
      const mml = mj.startup.toMML(item.root);
      if (/<merror/.test(mml)) out.mathErrors.push(`TeX error in: ${item.math}`);
      // the noundefined extension shows an unknown macro as red text "\name"
      else if (/<mtext[^>]*mathcolor="red"[^>]*>\\/.test(mml)) out.mathErrors.push(`undefined macro in: ${item.math}`);
    }
  }
  const outsideOutput = (node) => !node.parentElement.closest('mjx-container, .eqno');
  out.math = Array.from(document.querySelectorAll('.math')).map((el) => {
    let raw = '';
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) if (outsideOutput(walker.currentNode)) raw += walker.currentNode.nodeValue;
    return {
      display: el.tagName === 'DIV',
      // wider than the text column: the reader has to scroll it sideways to see all of it
      overflow: el.tagName !== 'DIV' ? 0 : Math.max(0, ...[el, ...el.querySelectorAll('mjx-container')]
        .map((box) => box.scrollWidth - box.clientWidth)),
      typeset: el.querySelector('mjx-container') !== null,
      errorNodes: el.querySelectorAll('mjx-merror, [data-mjx-error]').length,
      raw: raw.trim(),
      source: (texOf.get(el.querySelector('mjx-container')) || el.textContent).trim().replace(/\s+/g, ' ').slice(0, 80),
    };
  });

  // TeX left as text anywhere in the page (outside code): $, \(, \[, \begin{.
  out.rawTex = [];
  const skip = 'pre, code, script, style, textarea, kbd, samp, mjx-container, .highlight';
  const texLike = /\$|\\\(|\\\[|\\begin\{/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest(skip)) continue;
    const text = node.nodeValue.replace(/\s+/g, ' ');
    const match = texLike.exec(text);
    if (match) {
      out.rawTex.push({section: sectionOf(node.parentElement),
                       text: text.slice(Math.max(0, match.index - 40), match.index + 60).trim()});
    }
  }

  // Links: every <a href>, and the <link>s the theme navigates with.
  const label = (el) => (el.textContent || el.getAttribute('title') || '').trim().replace(/\s+/g, ' ').slice(0, 60);
  out.links = Array.from(document.querySelectorAll('a[href]')).map((a) => ({
    href: a.href, raw: a.getAttribute('href'), text: label(a),
    launch: a.closest('.dropdown-launch-buttons') !== null,  // in the page's launch menu
  }));
  for (const link of document.querySelectorAll('link[href]')) {
    if (/\b(prev|next|index|search)\b/.test(link.rel)) {
      out.links.push({href: link.href, raw: link.getAttribute('href'), text: `<link rel="${link.rel}">`});
    }
  }
  return out;
}
"""


class _Scanner(HTMLParser):
    """Collects element ids/names, a meta refresh target and every asset URL of one HTML file."""

    ASSET_ATTRS = {
        "script": "src",
        "img": "src",
        "iframe": "src",
        "source": "src",
        "video": "src",
        "audio": "src",
        "embed": "src",
        "object": "data",
        "link": "href",
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refresh: str | None = None
        self.assets: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for key in ("id", "name"):
            if attributes.get(key):
                self.ids.add(attributes[key])
        if tag == "meta" and (attributes.get("http-equiv") or "").lower() == "refresh":
            content = attributes.get("content") or ""
            _, _, url = content.partition("=")
            self.refresh = url.strip().strip("'\"") or None
        attr = self.ASSET_ATTRS.get(tag)
        if attr and attributes.get(attr):
            if tag == "link" and (attributes.get("rel") or "") in ("canonical", "alternate"):
                return  # a name for the page, not something the browser loads
            self.assets.append((tag, attributes[attr]))
        if tag in ("img", "source") and attributes.get("srcset"):
            for candidate in attributes["srcset"].split(","):
                self.assets.append((tag, candidate.strip().split(" ")[0]))


@functools.cache
def scan(path: Path) -> _Scanner:
    scanner = _Scanner()
    scanner.feed(path.read_text(encoding="utf-8"))
    scanner.close()
    return scanner


def meta_refresh_target(path: Path) -> str | None:
    return scan(path).refresh


def is_remote(url: str) -> bool:
    """True for a URL the browser would fetch from another host (http(s), ``//host``)."""
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https", "ftp", "ws", "wss") or url.strip().startswith("//")


def local_target(html_dir: Path, base: str, url: str) -> tuple[Path, str] | None:
    """The file and fragment an absolute ``url`` on the local server points at, else None."""
    if not url.startswith(base):
        return None
    parts = urlsplit(url)
    rel = unquote(parts.path).lstrip("/")
    target = html_dir / rel
    if rel == "" or rel.endswith("/"):
        target = target / "index.html"
    return target, unquote(parts.fragment)
