"""Accessibility of the rendered book: alt text on every figure, headings in order, and colours
that stay distinguishable under colour blindness.

Three checks run over every chapter (``chapters/*.ipynb`` and ``chapters/*.md``):

* **Alt text.** A figure drawn by a code cell becomes an ``<img>`` whose ``alt`` is, by default,
  nothing useful to a screen reader. myst-nb takes it from the cell's metadata,
  ``{"mystnb": {"image": {"alt": "..."}}}``; every code cell with an image output must carry one
  that describes the figure (at least ``MIN_ALT`` characters, not a file name). Images written in
  markdown (``![alt](src)``, ``<img>``, ``{image}``/``{figure}`` directives) need the same.
* **Headings.** Exactly one level-1 heading, at the top of the chapter, and no heading that skips a
  level (``##`` followed by ``####``), as screen-reader navigation expects. Markdown is parsed with
  MyST's own parser and the book's extensions, so ``#`` lines inside code, math or directive
  blocks are not mistaken for headings.
* **Colours** (see :func:`colour_problems` for what this static check can and cannot see).

The helpers are tested on small snippets too, so each check is known to fail when it should.
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import matplotlib
import matplotlib.colors as mcolors
import nbformat
import pytest
from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

from bncourse.plotting import PALETTE

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))
MARKDOWN = sorted(CHAPTERS.glob("*.md"))

MIN_ALT = 30  # characters: enough for "what the figure shows", too many for a bare label

# --------------------------------------------------------------------------------------------
# Alt text
# --------------------------------------------------------------------------------------------

_FILE_LIKE = re.compile(r"^\S+\.(png|jpe?g|gif|svg|pdf|webp)$|^\S*[/\\]\S*$", re.IGNORECASE)


def alt_problem(alt) -> str | None:
    """Why ``alt`` is not a usable alt text, or None if it is."""
    if not isinstance(alt, str) or not alt.strip():
        return "no alt text"
    text = alt.strip()
    if _FILE_LIKE.match(text):
        return f"alt text is a file name or path: {text!r}"
    if len(text) < MIN_ALT:
        return f"alt text shorter than {MIN_ALT} characters: {text!r}"
    return None


def _has_image_output(cell) -> bool:
    return any(
        out.get("output_type") in ("display_data", "execute_result")
        and any(mime.startswith("image/") for mime in out.get("data", {}))
        for out in cell.get("outputs", [])
    )


def _cell_alt(cell):
    options = cell.get("metadata", {}).get("mystnb", {})
    return options.get("image", {}).get("alt") if isinstance(options, dict) else None


_MD = create_md_parser(
    MdParserConfig(
        enable_extensions={"amsmath", "colon_fence", "deflist", "dollarmath", "substitution"}
    ),
    RendererHTML,
)
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_HTML_ALT = re.compile(r"""\balt\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_DIRECTIVE_ALT = re.compile(r"^:alt:\s*(.*)$", re.MULTILINE)


def markdown_image_problems(text: str) -> list[str]:
    """Alt-text problems of the images written in one piece of MyST markdown."""
    problems = []
    for token in _MD.parse(text):
        if token.type in ("fence", "colon_fence") and re.match(
            r"\{(image|figure)\}", token.info.strip()
        ):
            found = _DIRECTIVE_ALT.search(token.content)
            why = alt_problem(found.group(1) if found else None)
            if why:
                problems.append(f"{token.info.strip()}: {why}")
        for child in token.children or []:
            if child.type == "image":
                why = alt_problem(child.content)
                if why:
                    problems.append(f"![...]({child.attrs.get('src')}): {why}")
        if token.type in ("html_block", "inline", "html_inline"):
            for tag in _HTML_IMG.findall(token.content):
                found = _HTML_ALT.search(tag)
                why = alt_problem(found.group(2) if found else None)
                if why:
                    problems.append(f"{tag[:60]}: {why}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_has_alt_text(path):
    nb = nbformat.read(path, as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and _has_image_output(cell):
            why = alt_problem(_cell_alt(cell))
            if why:
                problems.append(f"code cell {i} (id {cell.get('id')}): {why}")
        elif cell.cell_type == "markdown":
            problems += [f"markdown cell {i}: {p}" for p in markdown_image_problems(cell.source)]
    assert not problems, (
        f"{path.name}: figures without alt text; add cell metadata "
        '{"mystnb": {"image": {"alt": "what the figure shows and what to see in it"}}}:\n  '
        + "\n  ".join(problems)
    )


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.name)
def test_markdown_chapter_images_have_alt_text(path):
    problems = markdown_image_problems(path.read_text(encoding="utf-8"))
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------------------------
# Headings
# --------------------------------------------------------------------------------------------

# Tokens that may come before the title: labels `(name)=`, `%` comments, front matter.
_PREAMBLE = {"myst_target", "myst_line_comment", "front_matter"}


def heading_problems(blocks: list[str]) -> list[str]:
    """Heading-order problems of a chapter given as its markdown blocks (one per notebook cell).

    The chapter must open with its only level-1 heading, and no heading may be more than one
    level deeper than the one before it.
    """
    headings = []  # (level, text, is the first content of the chapter)
    seen_content = False
    for text in blocks:
        tokens = _MD.parse(text)
        for k, token in enumerate(tokens):
            if token.type in _PREAMBLE or token.type.endswith("_close") or token.level > 0:
                continue
            if token.type == "heading_open":
                headings.append((int(token.tag[1]), tokens[k + 1].content, not seen_content))
            seen_content = True
    problems = []
    if not headings:
        return ["no headings at all"]
    level_one = [h for h in headings if h[0] == 1]
    if len(level_one) != 1:
        problems.append(
            f"{len(level_one)} level-1 headings (need exactly one): {[h[1] for h in level_one]}"
        )
    if headings[0][0] != 1 or not headings[0][2]:
        problems.append(
            f"the chapter does not open with its level-1 heading (first heading: "
            f"{'#' * headings[0][0]} {headings[0][1]})"
        )
    for (prev, _, _), (level, text, _) in zip(headings, headings[1:]):
        if level > prev + 1:
            problems.append(
                f"'{'#' * level} {text}' follows a level-{prev} heading (skips a level)"
            )
    return problems


def _notebook_blocks(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    blocks = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            blocks.append(cell.source)
        elif cell.cell_type == "code" and cell.source.strip():
            blocks.append(
                "```python\n(code cell)\n```"
            )  # content: a heading after it is not at the top
    return blocks


@pytest.mark.parametrize("path", NOTEBOOKS + MARKDOWN, ids=lambda p: p.name)
def test_headings_in_order(path):
    blocks = (
        _notebook_blocks(path) if path.suffix == ".ipynb" else [path.read_text(encoding="utf-8")]
    )
    problems = heading_problems(blocks)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------------

#: Colour maps a chapter may use. viridis and its relatives are perceptually uniform and stay
#: ordered for the common colour-vision deficiencies (cividis was designed for them); the greys
#: carry lightness only; RdBu is ColorBrewer's diverging red-blue map, marked colour-blind safe
#: there, for signed data around a meaningful zero.
ALLOWED_CMAPS = {
    name + suffix
    for name in (
        "viridis",
        "cividis",
        "magma",
        "inferno",
        "plasma",
        "gray",
        "grey",
        "Greys",
        "binary",
        "RdBu",
    )
    for suffix in ("", "_r")
}
_PALETTE_RGBA = {mcolors.to_rgba(c) for c in PALETTE}

# Keyword arguments (and dict keys, e.g. in arrowprops / bbox) that set a colour or colour map.
COLOUR_KEYS = {
    "color",
    "colour",
    "colors",
    "c",
    "facecolor",
    "facecolors",
    "edgecolor",
    "edgecolors",
    "fc",
    "ec",
    "mfc",
    "mec",
    "markerfacecolor",
    "markeredgecolor",
    "ecolor",
    "cmap",
    "colormap",
}
# Axes methods that colour their artists from matplotlib's default cycle (or rcParams' C0) when
# they are given no colour.
CYCLE_METHODS = {
    "plot",
    "semilogx",
    "semilogy",
    "loglog",
    "scatter",
    "hist",
    "errorbar",
    "fill_between",
    "fill_betweenx",
    "bar",
    "barh",
    "step",
    "stairs",
    "axhline",
    "axvline",
    "axhspan",
    "axvspan",
    "hlines",
    "vlines",
    "pie",
    "stackplot",
    "voxels",
    "plot_surface",
    "bar3d",
    "eventplot",
}
PATCHES = {"Rectangle", "Circle", "Ellipse", "Polygon", "Wedge", "FancyBboxPatch", "RegularPolygon"}
FMT_METHODS = {"plot", "semilogx", "semilogy", "loglog", "errorbar", "step"}
_AXES_NAME = re.compile(r"^(ax\w*|axes|axs|plt|fig\w*|subplot\w*)$")
_FMT = re.compile(r"^(?:--|-\.|[-.:,ov^<>1234sp*hHx+XDd|_]|[bgrcmykw]|C\d)+$")
_FMT_COLOUR = re.compile(r"C\d|[bgrcmykw]")
_ALWAYS_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|(tab|xkcd|css4?):.+|C\d+)$")


def colour_allowed(spec) -> bool:
    """Is ``spec`` (a matplotlib colour) a PALETTE colour, a grey, or transparent?"""
    if isinstance(spec, str) and spec.strip().lower() == "none":
        return True
    rgba = mcolors.to_rgba(spec)
    r, g, b, _ = rgba
    return rgba[:3] in {p[:3] for p in _PALETTE_RGBA} or (r == g == b)


def _string_problem(text: str, what: str) -> str | None:
    if text in matplotlib.colormaps:
        return (
            None
            if text in ALLOWED_CMAPS
            else f"{what}: colour map {text!r} is not in ALLOWED_CMAPS"
        )
    if mcolors.is_color_like(text) and not colour_allowed(text):
        return f"{what}: colour {text!r} is neither in PALETTE nor a grey"
    return None


def _value_problems(node: ast.AST, what: str, numeric_tuples: bool = True) -> list[str]:
    """Colours and colour maps written literally anywhere inside ``node``."""
    problems = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            why = _string_problem(sub.value, what)
            if why:
                problems.append(why)
        elif numeric_tuples and isinstance(sub, (ast.Tuple, ast.List)) and len(sub.elts) in (3, 4):
            values = [e.value for e in sub.elts if isinstance(e, ast.Constant)]
            if len(values) == len(sub.elts) and all(
                isinstance(v, (int, float)) and 0 <= v <= 1 for v in values
            ):
                if not colour_allowed(tuple(float(v) for v in values)):
                    problems.append(
                        f"{what}: RGB(A) colour {tuple(values)} is neither in PALETTE nor a grey"
                    )
    return problems


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _is_colour_name(name: str) -> bool:
    return "colo" in name.lower() or "cmap" in name.lower()


def colour_problems(source: str) -> list[str]:
    """Colour choices in one code cell that are not colour-blind safe, found statically.

    What it checks, in the cell's syntax tree:

    * every literal colour or colour map given to a colour keyword (``color=``, ``c=``,
      ``facecolor=``, ``cmap=``, ... also inside ``dict(...)`` / ``{...}`` such as ``arrowprops``),
      assigned to a variable whose name contains "colo(u)r" or "cmap", or listed in the iterable of a
      ``for`` loop whose target has such a name, must be a PALETTE colour, a grey (``"0.8"``,
      ``"gray"``, ``"#dddddd"``, equal RGB components), ``"none"``, or a colour map in
      ALLOWED_CMAPS; literal strings that are not colours (labels) are ignored;
    * strings that can only be colours (``"#rrggbb"``, ``"tab:red"``, ``"xkcd:..."``, ``"C0"``)
      are checked wherever they appear; so are names passed to ``get_cmap(...)``,
      ``colormaps[...]`` and ``cm.<name>``;
    * format strings of ``plot``-like calls (``"r--"``, ``"C1o"``) may only use black or white;
    * a plotting call on an axes-like object (``ax``, ``axes[...]``, ``plt``, ...) that colours
      from matplotlib's default cycle must be given a colour (or ``**kwargs``), and so must
      patches (``Rectangle(...)`` etc.) unless ``fill=False``;
    * ``plt.style.use`` and ``rcParams`` colour settings are flagged, since they change every
      later default.

    What it cannot see: colours computed at run time or passed in through variables and
    function arguments it cannot trace (``color=colour`` is accepted when ``colour`` comes from
    a non-literal expression); plotting calls on objects not named like axes; libraries other
    than matplotlib; whether two PALETTE colours drawn together are told apart by more than hue,
    or whether colour is the only cue (that is for the reader of the figure to judge).
    """
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    with (
        warnings.catch_warnings()
    ):  # e.g. an invalid escape in a chapter's string is not our concern here
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        tree = ast.parse(code)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else None
            )
            keywords = {k.arg for k in node.keywords}
            for kw in node.keywords:
                if kw.arg in COLOUR_KEYS:
                    problems += _value_problems(kw.value, f"{name}({kw.arg}=...)")
            if name == "get_cmap" and node.args:
                problems += _value_problems(node.args[0], "get_cmap(...)")
            if (
                name == "use"
                and isinstance(func, ast.Attribute)
                and _root_name(func.value) in ("plt", "matplotlib", "mpl", "style")
            ):
                problems.append("style.use(...) changes every later default colour")
            receiver = _root_name(func.value) if isinstance(func, ast.Attribute) else None
            on_axes = receiver is not None and _AXES_NAME.match(receiver)
            fmt_strings = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            fmt_strings += [
                k.value.value
                for k in node.keywords
                if k.arg == "fmt"
                and isinstance(k.value, ast.Constant)
                and isinstance(k.value.value, str)
            ]
            fmt_strings = [s for s in fmt_strings if _FMT.match(s)]
            if on_axes and name in FMT_METHODS:
                for fmt in fmt_strings:
                    for letter in _FMT_COLOUR.findall(fmt):
                        if not colour_allowed(letter):
                            problems.append(
                                f"{name}(..., {fmt!r}): format-string colour {letter!r}"
                            )
            has_colour = (
                bool(keywords & COLOUR_KEYS)
                or None in keywords
                or any(_FMT_COLOUR.search(s) for s in fmt_strings)
            )
            if on_axes and name in CYCLE_METHODS and not has_colour:
                problems.append(
                    f"{ast.unparse(func)}(...) without a colour uses matplotlib's default cycle"
                )
            if (
                name in PATCHES
                and not has_colour
                and not any(
                    k.arg == "fill" and isinstance(k.value, ast.Constant) and k.value.value is False
                    for k in node.keywords
                )
            ):
                problems.append(
                    f"{name}(...) without a colour uses matplotlib's default face colour"
                )
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in COLOUR_KEYS:
                    problems += _value_problems(value, f"{{{key.value!r}: ...}}")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n for t in targets for n in _names(t)]
            if any(_is_colour_name(n) for n in names) and node.value is not None:
                problems += _value_problems(node.value, f"{', '.join(names)} = ...")
            for (
                target
            ) in targets:  # rcParams["axes.prop_cycle"] = ..., rcParams["image.cmap"] = ...
                if isinstance(target, ast.Subscript) and _root_name(target) in (
                    "rcParams",
                    "mpl",
                    "matplotlib",
                    "plt",
                ):
                    key = target.slice
                    if (
                        isinstance(key, ast.Constant)
                        and isinstance(key.value, str)
                        and re.search(r"colou?r|cycle|cmap", key.value)
                    ):
                        problems.append(
                            f"rcParams[{key.value!r}] changes every later default colour"
                        )
        elif isinstance(node, ast.For) and any(_is_colour_name(n) for n in _names(node.target)):
            problems += _value_problems(node.iter, "for ... in ...", numeric_tuples=False)
        elif (
            isinstance(node, ast.Subscript)
            and _root_name(node) == "colormaps"
            and isinstance(node.slice, ast.Constant)
        ):
            problems += _value_problems(node.slice, "colormaps[...]")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, (ast.Name, ast.Attribute))
            and (
                getattr(node.value, "id", None) == "cm" or getattr(node.value, "attr", None) == "cm"
            )
        ):
            why = _string_problem(node.attr, "cm.<name>")
            if why:
                problems.append(why)
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _ALWAYS_COLOUR.match(node.value)
        ):
            if not (mcolors.is_color_like(node.value) and colour_allowed(node.value)):
                problems.append(f"colour literal {node.value!r} is neither in PALETTE nor a grey")
    return sorted(set(problems))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_colours_are_colour_blind_safe(path):
    nb = nbformat.read(path, as_version=4)
    problems = [
        f"cell {i}: {p}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for p in colour_problems(cell.source)
    ]
    assert not problems, (
        f"{path.name}: use bncourse.plotting.PALETTE, greys or an allowed colour map:\n  "
        + "\n  ".join(problems)
    )


# --------------------------------------------------------------------------------------------
# The checks themselves: each must fail on what it is meant to catch
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alt", "ok"),
    [
        (None, False),
        ("", False),
        ("   ", False),
        ("a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6.png", False),
        ("../_build/jupyter_execute/figure_output.png", False),
        ("A plot.", False),
        ("Loss against step: the run below the threshold converges, the one above diverges.", True),
    ],
)
def test_alt_problem(alt, ok):
    assert (alt_problem(alt) is None) == ok


def test_markdown_image_problems():
    assert markdown_image_problems("![](fig.png)")
    assert markdown_image_problems('<img src="a.png">')
    assert markdown_image_problems("```{figure} a.png\n:name: f\n\nCaption.\n```")
    good = "Two histograms: batches of four scatter more widely than batches of eight."
    assert not markdown_image_problems(f"![{good}](fig.png)")
    assert not markdown_image_problems(f'<img src="a.png" alt="{good}">')
    assert not markdown_image_problems(f"```{{figure}} a.png\n:alt: {good}\n\nCaption.\n```")


@pytest.mark.parametrize(
    ("blocks", "ok"),
    [
        (["# Title\n\n## A\n\n### a\n\n## B"], True),
        (["(label)=\n# Title\n\n## A"], True),
        (["# Title", "```python\nx = 1\n# not a heading\n```", "## A"], True),
        (["# Title\n\n$$\n# not a heading\n$$\n\n## A"], True),
        (["# Title\n\n## A\n\n#### too deep"], False),
        (["# Title\n\n### skips level 2"], False),
        (["## No title first\n\n# Title"], False),
        (["# Title\n\n# Second title"], False),
        (["Some text first.\n\n# Title"], False),
        (["```python\nx\n```", "# Title after code"], False),
    ],
)
def test_heading_problems(blocks, ok):
    assert (not heading_problems(blocks)) == ok, heading_problems(blocks)


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ("ax.plot(x, y, color=PALETTE[0])", True),
        ("ax.plot(x, y, 'o-', color=PALETTE[1])", True),
        ("axes[0, 1].axhline(0, color='0.8')", True),
        ("ax.text(0, 0, 'label')", True),
        ("ax.imshow(z, cmap='viridis')", True),
        ("ax.imshow(z, cmap='gray_r')", True),
        ("ax.imshow(z)", True),  # matplotlib's default colour map is viridis
        ("ax.plot(x, y, 'k--')", True),
        ("ax.voxels(m, facecolors=colours, edgecolor=(0.3, 0.3, 0.3, 0.25))", True),
        ("colours = np.where(m, to_rgba(PALETTE[0]), np.array([0.85, 0.85, 0.85, 0.18]))", True),
        (
            "for rho, colour in [(0.9, PALETTE[1]), (0.99, PALETTE[0])]:\n    ax.plot(x, color=colour)",
            True,
        ),
        ("ax.add_patch(Rectangle((0, 0), 1, 1, color=PALETTE[1] if lit else '#dddddd'))", True),
        ("ax.text(0, 0, 's', bbox=dict(fc='white', ec=PALETTE[0]))", True),
        ("ax.plot(x, y)", False),  # relies on the default cycle
        ("plt.plot(x, y, label='a')", False),
        ("ax.hist(v, bins=30)", False),
        ("ax.axvline(1.0)", False),
        ("ax.plot(x, y, 'r--')", False),
        ("ax.plot(x, y, 'C1o')", False),
        ("ax.plot(x, y, color='red')", False),
        ("ax.plot(x, y, color='tab:blue')", False),
        ("ax.scatter(x, y, c='#ff0000')", False),
        ("ax.imshow(z, cmap='jet')", False),
        ("ax.imshow(z, cmap=plt.get_cmap('rainbow'))", False),
        ("for name, cmap in [('a', 'hsv'), ('b', 'gray_r')]:\n    ax.imshow(z, cmap=cmap)", False),
        ("COLOURS = {'a': 'green', 'b': PALETTE[0]}", False),
        ("ax.annotate('', xy=(0, 0), arrowprops=dict(color='orange'))", False),
        ("ax.fill_between(x, a, b, color=(1.0, 0.0, 0.0))", False),
        ("ax.add_patch(Rectangle((0, 0), 1, 1))", False),
        ("plt.style.use('ggplot')", False),
        ("plt.rcParams['axes.prop_cycle'] = cycler(color=['r', 'g'])", False),
        ("style = {'colour': 'C2'}", False),
    ],
)
def test_colour_problems(source, ok):
    assert (not colour_problems(source)) == ok, colour_problems(source)
