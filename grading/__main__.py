"""Command line: ``python -m grading assign ...`` and ``python -m grading grade ...``.

Run ``python -m grading grade --help`` for the options; the README ("Exercises and grading")
walks through both workflows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from . import EXERCISES


def _assign(args) -> int:
    from . import assign

    names = args.names or None
    if args.check:
        with tempfile.TemporaryDirectory(prefix="bn-exercises-check-") as tmp:
            assign.generate(out=Path(tmp), names=names, run_tests=not args.no_run_tests)
            problems = assign.differences(Path(tmp), EXERCISES, names=names)
        for p in problems:
            print(p)
        if problems:
            print(
                "The committed exercises are out of date: run `make exercises` and commit the result."
            )
            return 1
        print("The committed student notebooks and autograders match their masters.")
        return 0
    done = assign.generate(
        out=Path(args.out) if args.out else EXERCISES, names=names, run_tests=not args.no_run_tests
    )
    for master in done:
        print(
            f"generated exercises/{master.stem}.ipynb and "
            f"exercises/autograder/{master.stem}/ from {master.name}"
        )
    return 0


def _grade(args) -> int:
    import signal
    import threading

    from .grade import GradingInterrupted, Options, grade, load_autograders, summary_line

    options = Options(
        cell_timeout=args.cell_timeout,
        call_timeout=args.call_timeout,
        submission_timeout=args.submission_timeout,
        attempts=args.attempts,
        jobs=args.jobs,
        max_file_mb=args.max_file_size,
    )
    csv_path = Path(args.report)
    json_path = csv_path.with_suffix(".json")

    def stop(signum, frame):  # `kill` stops the run as Ctrl-C does: workers killed, report kept
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGTERM, stop) if main_thread else None
    try:
        autograders = load_autograders()
        results = grade(
            args.submissions,
            options,
            forced=args.assignment,
            autograders=autograders,
            progress=lambda r: print(summary_line(r), flush=True),
            report=csv_path,
        )
    except GradingInterrupted as interrupted:
        print(
            f"interrupted: {len(interrupted.results)} of {interrupted.total} submissions graded; "
            f"their rows are in {csv_path} and {json_path}",
            file=sys.stderr,
            flush=True,
        )
        return 130
    except KeyboardInterrupt:
        print("interrupted before any submission was graded", file=sys.stderr, flush=True)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, old_handler)
    if not results:
        print("no submissions (.ipynb or .zip files) found in " + ", ".join(args.submissions))
        return 1
    print(f"wrote {csv_path} (scores) and {json_path} (every test case and message)")
    return 0


def main(argv=None) -> int:
    from .kernels import skip_slow_imports

    skip_slow_imports()
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "assign", help="regenerate exercises/*.ipynb and exercises/autograder/ from the masters"
    )
    p.add_argument(
        "names", nargs="*", help="only these masters (e.g. 03_batchnorm_algorithm); default all"
    )
    p.add_argument(
        "--check", action="store_true", help="generate into a temporary folder and report drift"
    )
    p.add_argument(
        "--no-run-tests", action="store_true", help="do not grade the solutions while generating"
    )
    p.add_argument("--out", help="write somewhere other than exercises/")
    p.set_defaults(func=_assign)

    p = sub.add_parser("grade", help="grade submitted notebooks and write a score report")
    p.add_argument(
        "submissions", nargs="+", help="notebooks, otter .zip exports, or folders of them"
    )
    p.add_argument(
        "--report",
        default="grades.csv",
        help="CSV report path; the JSON goes beside it (default grades.csv)",
    )
    p.add_argument(
        "--assignment", help="grade every submission as this assignment (e.g. 04_backward_pass)"
    )
    p.add_argument(
        "--cell-timeout", type=float, default=60.0, help="seconds any one cell may run (default 60)"
    )
    p.add_argument(
        "--call-timeout",
        type=float,
        default=10.0,
        help="seconds a test's call of learner code may run (default 10)",
    )
    p.add_argument(
        "--submission-timeout",
        type=float,
        default=300.0,
        help="wall-clock seconds for one grading attempt of a submission (default 300)",
    )
    p.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="gradings per submission, each skipping the cell that broke the last (default 3)",
    )
    p.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    p.add_argument(
        "--max-file-size",
        type=float,
        default=200.0,
        metavar="MB",
        help="larger submission files (or notebooks in a .zip) are not graded (default 200)",
    )
    p.set_defaults(func=_grade)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
