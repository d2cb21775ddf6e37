"""Stored outputs that another CPU reproduces, and seeds that all go through one offset.

nbval compares every stored output byte for byte; these checks catch, without executing anything,
the two ways a chapter makes that comparison depend on the machine that wrote it:

- a glued float stored with more digits than the prose shows (a 17-digit repr whose last digits
  are the rounding of this CPU's summation order): every glued float must be what
  ``bncourse.evidence.glue`` stores, the value rounded to the prose's format spec;
- a random source seeded with a literal, which ``BN_SEED_OFFSET`` cannot shift: every seed must
  come from ``bncourse.evidence`` (``ev.seed``, ``ev.rng``, ``ev.seeds``).

``make test-portable`` (nbval under perturbed numerics) and ``make claims SEED_OFFSET=k`` (every
assertion under other seeds) are the executed checks; see scripts/perturbed_env.py.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bncourse.evidence import rounded

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
GLUE_MIME = "application/papermill.record/text/plain"
GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")
MAX_SIGNIFICANT = 6  # a glued float with more significant digits than this is a raw repr


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _glued(path: Path) -> dict[str, object]:
    values = {}
    for cell in _cells(path):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if GLUE_MIME in data:
                text = data[GLUE_MIME]
                text = text if isinstance(text, str) else "".join(text)
                name = out.get("metadata", {}).get("scrapbook", {}).get("name")
                try:
                    values[name] = ast.literal_eval(text)
                except (SyntaxError, ValueError):
                    values[name] = text
    return values


def _significant_digits(value: float) -> int:
    mantissa = repr(value).lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) or 1


def _uses(path: Path) -> list[tuple[str, str]]:
    """(key, format spec) for every {glue:text} / {glue} role in the chapter's markdown."""
    uses = []
    for cell in _cells(path):
        if cell["cell_type"] == "markdown":
            for content in GLUE_ROLE.findall(_source(cell)):
                key, _, spec = content.split("::")[-1].partition(":")
                uses.append((key, spec))
    return uses


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_glued_floats_are_rounded_to_what_the_prose_shows(path):
    glued = _glued(path)
    raw = {
        k: v
        for k, v in glued.items()
        if isinstance(v, float) and _significant_digits(v) > MAX_SIGNIFICANT
    }
    assert not raw, (
        f"{path.name}: glued floats stored as raw reprs (digits another CPU does not reproduce): "
        f"{raw}; glue them with bncourse.evidence.glue(name, value, fmt), fmt the prose's precision"
    )
    hidden = []
    for key, spec in _uses(path):
        value = glued.get(key)
        if isinstance(value, float) and spec and spec[-1] in "eEfFgG%":
            if rounded(value, spec) != value:
                hidden.append(f"{key}={value!r} shown as {{glue:text}}`{key}:{spec}`")
    assert not hidden, (
        f"{path.name}: glued values with digits the prose does not show (glue them at the prose's "
        f"precision): {hidden}"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_glue_the_prose_uses_exists(path):
    glued = _glued(path)
    missing = sorted({key for key, _ in _uses(path) if key not in glued})
    assert not missing, f"{path.name}: the prose uses glue keys no cell stores: {missing}"


# A seed written as a literal cannot be shifted by BN_SEED_OFFSET.
LITERAL_SEEDS = [
    (re.compile(r"default_rng\(\s*\d"), "np.random.default_rng(<literal>)"),
    (re.compile(r"set_random_seed\(\s*\d"), "keras.utils.set_random_seed(<literal>)"),
    (re.compile(r"\bnp\.random\.seed\("), "np.random.seed(...)"),
    (re.compile(r"\b(tf\.random\.set_seed|random\.seed)\(\s*\d"), "a global seed literal"),
    (re.compile(r"\bseed\s*=\s*\d"), "seed=<literal>"),
    (re.compile(r"\bRandomState\(\s*\d"), "np.random.RandomState(<literal>)"),
]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_random_source_goes_through_the_seed_offset(path):
    found = []
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code":
            continue
        for lineno, line in enumerate(_source(cell).splitlines(), start=1):
            code = line.split("#", 1)[0]
            for pattern, what in LITERAL_SEEDS:
                if pattern.search(code):
                    found.append(f"cell {i}, line {lineno}: {what}: {line.strip()}")
    assert not found, (
        f"{path.name}: random sources seeded with literals, which BN_SEED_OFFSET cannot shift "
        "(use bncourse.evidence.seed/rng/seeds):\n" + "\n".join(found)
    )


# ------------------------------------------------------------------- the commands and CI


def test_perturbed_environment_switches_off_the_widest_simd_and_threads():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from perturbed_env import perturbed_environment
    finally:
        sys.path.pop(0)
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    env = perturbed_environment()
    assert {
        k: env[k]
        for k in (
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "TF_NUM_INTRAOP_THREADS",
            "TF_NUM_INTEROP_THREADS",
        )
    } == dict.fromkeys(
        (
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "TF_NUM_INTRAOP_THREADS",
            "TF_NUM_INTEROP_THREADS",
        ),
        "1",
    )
    assert not any(k.startswith("OPENBLAS_CORETYPE") or k.startswith("OPENBLAS_L2") for k in env)
    found = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    disabled = env["NPY_DISABLE_CPU_FEATURES"].split()
    if len(found) > 1:
        assert disabled == found[1:]  # the widest levels off, the narrowest dispatched level kept
    else:
        assert disabled == found
    # numpy accepts it: a child started with it runs and reports those levels as not found.
    script = (
        "from numpy._core._multiarray_umath import __cpu_features__ as f; "
        f"import sys; sys.exit(any(f[k] for k in {disabled!r}))"
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr


def test_ci_runs_the_portable_and_the_seed_shifted_checks():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    steps = [line.strip() for line in ci.splitlines() if line.strip().startswith("make ")]
    assert any(s.startswith("make test-portable") for s in steps), steps
    assert any(re.match(r"make claims SEED_OFFSET=[1-9]", s) for s in steps), steps
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "BN_SEED_OFFSET=$(SEED_OFFSET)" in makefile and "perturbed_env.py" in makefile
    assert "OPENBLAS_CORETYPE" not in makefile and "OPENBLAS_CORETYPE" not in ci
