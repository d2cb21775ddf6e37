"""Run every chapter top to bottom and enforce the budgets: at most 90 s and 1.5 GB each.

Usage (from the repository root; ``make budgets`` runs the first form)::

    python scripts/budgets.py                      # every chapter notebook in _toc.yml
    python scripts/budgets.py chapters/05_inference.ipynb [...]
    python scripts/budgets.py --max-seconds 60 --max-mb 1200 chapters/03_batchnorm_algorithm.ipynb

Each notebook is executed in a fresh kernel by a fresh child process (``--one``), exactly as a
learner's "Restart and run all" would; nothing is written back. For each it prints the wall-clock
time of the execution (kernel start to last cell) and the peak resident memory of the kernel
process (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` in the child, read after the kernel has exited:
the high-water mark of the largest process it waited for, which is the kernel). Exit status 1
when any chapter is over a budget or fails to run.

The budgets are those of a Binder session (2 CPU cores, 2 GB of memory, of which the course keeps
0.5 GB in reserve). Timings depend on the machine and on what else runs on it. The same machine
has been measured running every chapter 2.5 to 3 times slower on one day than on another, with
nothing else running inside it (the host was busy), so a verdict on raw seconds would say more
about the host than about the chapter. Before and after each chapter the script therefore times a
fixed probe (numpy BLAS, elementwise numpy and a Python loop: `probe_seconds`) and compares it
with the probe's time on the reference machine (`REFERENCE_PROBE_SECONDS`, a quiet 2-core
machine of the kind CI runs on). When the machine is slower than that, by the factor
``slowdown = max(1, probe / reference)``, the time budget is judged on ``seconds / slowdown``, the
time the chapter would have taken at reference speed; a faster machine is judged on raw seconds.
Both numbers and the slowdown are printed, and ``--no-calibrate`` judges raw seconds only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_SECONDS = 90.0
MAX_MB = 1500.0  # 1.5 GB, in units of 10^6 bytes
# Median of probe_seconds() on a quiet 2-core machine of CI's kind (0.128-0.135 s there on
# 2026-12-02, when the chapters took 2.8-51 s).
REFERENCE_PROBE_SECONDS = 0.131


def probe_seconds(repeats: int = 7) -> float:
    """Median wall-clock time of a fixed single-threaded workload like the chapters', in seconds.

    One repeat: 2,000 products of 64 x 64 float32 matrices (small enough for one BLAS thread),
    100 passes of elementwise numpy over 200,000 float64 values, and 800,000 iterations of a
    Python loop. Single-threaded on purpose: threads that spin while waiting for each other make a
    multi-threaded probe far more sensitive to a busy machine than the chapters are (measured with
    two busy processes beside it: a 2-thread BLAS probe ran 2.3-4.8x slower, this one 1.5x, and
    chapter 1 1.2x).
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 64), dtype=np.float32)
    x = rng.standard_normal(200_000)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(2000):
            a @ a
        for _ in range(100):
            np.sqrt(x * x + 1.0).sum()
        total = 0
        for i in range(800_000):
            total += i % 7
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def slowdown(probes: list[float], reference: float = REFERENCE_PROBE_SECONDS) -> float:
    """How much slower than the reference machine this one ran (at least 1), from probe times."""
    return max(1.0, statistics.fmean(probes) / reference)


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks of the book, in the order of ``_toc.yml``."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


def run_one(path: Path, timeout: float) -> dict:
    """Execute ``path`` in a fresh kernel (in this process); return seconds, peak MB and any error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    error = None
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as exc:  # a failing chapter is reported, not raised: the others still run
        error = (
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB
    return {"seconds": seconds, "mb": peak_bytes / 1e6, "error": error}


def measure(path: Path, timeout: float) -> dict:
    """Run ``path`` in a child process (so its kernel's memory is measured alone)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--one", str(path), "--cell-timeout", str(timeout)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {
            "seconds": float("nan"),
            "mb": float("nan"),
            "error": "the measuring process failed: " + " | ".join(tail),
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml"
    )
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS)
    parser.add_argument(
        "--max-mb", type=float, default=MAX_MB, help="peak memory budget, in MB (10^6 bytes)"
    )
    parser.add_argument("--cell-timeout", type=float, default=600.0)
    parser.add_argument(
        "--no-calibrate",
        action="store_true",
        help="judge raw seconds (no probe, no correction for a slow machine)",
    )
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one is not None:
        print(json.dumps(run_one(args.one, args.cell_timeout)))
        return 0

    notebooks = args.notebooks or toc_notebooks()
    for nb in notebooks:
        if not nb.is_file() or nb.suffix != ".ipynb":
            parser.error(f"notebooks: {nb} is not a notebook file (expected path/to/name.ipynb)")
    offset = os.environ.get("BN_SEED_OFFSET", "0") or "0"
    print(
        f"Budgets: {args.max_seconds:g} s and {args.max_mb:g} MB per chapter, "
        f"on {os.cpu_count()} CPU cores, BN_SEED_OFFSET={offset} "
        "(every chapter's assertions must pass)",
        flush=True,
    )
    calibrate = not args.no_calibrate
    if calibrate:
        print(
            f"Probe on the reference machine: {REFERENCE_PROBE_SECONDS:.3f} s; 'slowdown' is this "
            "machine's probe (before and after the chapter) over it, at least 1; the time budget "
            "applies to 'at ref.' = seconds / slowdown",
            flush=True,
        )
    print(
        f"{'chapter':<42} {'seconds':>8} {'slowdown':>8} {'at ref.':>8} {'peak MB':>8}  verdict",
        flush=True,
    )
    over = []
    for nb in notebooks:
        before = probe_seconds() if calibrate else None
        r = measure(nb.resolve(), args.cell_timeout)
        factor = slowdown([before, probe_seconds()]) if calibrate else 1.0
        judged = r["seconds"] / factor
        problems = []
        if r["error"]:
            problems.append(f"failed ({r['error']})")
        if not judged <= args.max_seconds:
            problems.append(
                f"over {args.max_seconds:g} s" + (" at reference speed" if calibrate else "")
            )
        if not r["mb"] <= args.max_mb:
            problems.append(f"over {args.max_mb:g} MB")
        name = nb.resolve().relative_to(ROOT) if nb.resolve().is_relative_to(ROOT) else nb
        print(
            f"{str(name):<42} {r['seconds']:8.1f} {factor:8.2f} {judged:8.1f} {r['mb']:8.0f}  "
            f"{'; '.join(problems) or 'ok'}",
            flush=True,
        )
        if problems:
            over.append(str(name))
    if over:
        print(f"FAILED OR OVER BUDGET: {', '.join(over)}")
        return 1
    print(f"All {len(notebooks)} chapters within budget.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
