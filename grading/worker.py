"""Grade one prepared submission with otter, in its own process: ``python -m grading.worker``.

Usage: ``python -m grading.worker SUBMISSION.ipynb AUTOGRADER.zip RESULTS.json``

The driver (:mod:`grading.grade`) starts one worker per attempt at a submission, with a wall-clock
limit, and kills the worker's whole process group (its kernel included) if it runs over. The
worker writes otter's results as JSON (see :mod:`grading.results`) and exits 0, or exits non-zero
if otter could not grade (for example because the kernel died).
"""

from __future__ import annotations

import json
import sys
import traceback


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    submission, autograder, out = argv
    from .kernels import skip_slow_imports, use_this_python

    skip_slow_imports()
    use_this_python()
    from .results import grading_results_to_dict

    from otter.api import grade_submission

    try:
        results = grade_submission(submission, autograder, quiet=True)
    except BaseException:  # noqa: BLE001 - report whatever stopped otter, then fail
        traceback.print_exc()
        return 1
    data = grading_results_to_dict(results)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
