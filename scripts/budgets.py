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
0.5 GB in reserve). Timings depend on the machine and on what else runs on it: measure on a quiet
machine with 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_SECONDS = 90.0
MAX_MB = 1500.0  # 1.5 GB, in units of 10^6 bytes


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
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    error = None
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as exc:  # a failing chapter is reported, not raised: the others still run
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB
    return {"seconds": seconds, "mb": peak_bytes / 1e6, "error": error}


def measure(path: Path, timeout: float) -> dict:
    """Run ``path`` in a child process (so its kernel's memory is measured alone)."""
    proc = subprocess.run([sys.executable, __file__, "--one", str(path), "--cell-timeout", str(timeout)],
                          capture_output=True, text=True, cwd=ROOT)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"seconds": float("nan"), "mb": float("nan"),
                "error": "the measuring process failed: " + " | ".join(tail)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS)
    parser.add_argument("--max-mb", type=float, default=MAX_MB, help="peak memory budget, in MB (10^6 bytes)")
    parser.add_argument("--cell-timeout", type=float, default=600.0)
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
    print(f"Budgets: {args.max_seconds:g} s and {args.max_mb:g} MB per chapter, "
          f"on {os.cpu_count()} CPU cores, BN_SEED_OFFSET={offset} "
          "(every chapter's assertions must pass)", flush=True)
    print(f"{'chapter':<42} {'seconds':>8} {'peak MB':>8}  verdict", flush=True)
    over = []
    for nb in notebooks:
        r = measure(nb.resolve(), args.cell_timeout)
        problems = []
        if r["error"]:
            problems.append(f"failed ({r['error']})")
        if not r["seconds"] <= args.max_seconds:
            problems.append(f"over {args.max_seconds:g} s")
        if not r["mb"] <= args.max_mb:
            problems.append(f"over {args.max_mb:g} MB")
        name = nb.resolve().relative_to(ROOT) if nb.resolve().is_relative_to(ROOT) else nb
        print(f"{str(name):<42} {r['seconds']:8.1f} {r['mb']:8.0f}  {'; '.join(problems) or 'ok'}", flush=True)
        if problems:
            over.append(str(name))
    if over:
        print(f"FAILED OR OVER BUDGET: {', '.join(over)}")
        return 1
    print(f"All {len(notebooks)} chapters within budget.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
