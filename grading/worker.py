"""Grade one prepared submission with otter, in its own process: ``python -m grading.worker``.

Usage: ``python -m grading.worker SUBMISSION.ipynb AUTOGRADER.zip RESULTS.json``

The driver (:mod:`grading.grade`) starts one worker per attempt at a submission, with a wall-clock
limit, and kills the worker's whole process group and its kernel (which jupyter_client starts in
a session of its own; it records its pid, see :func:`grading.kernels.record_this_kernel`) if it
runs over or dies. The worker writes otter's results as JSON (see :mod:`grading.results`) and
exits 0, or exits non-zero if otter could not grade (for example because the kernel died).

Everything a worker and its kernel write stays inside folders the driver names in the worker's
environment, all inside the driver's own temporary folder, so that a killed worker leaves nothing
behind: ``TMPDIR`` (otter's grading folder and results file, the kernel's connection file),
``JUPYTER_RUNTIME_DIR``, and ``BN_GRADING_KERNELS``, where the ``python3`` kernelspec is written
(:func:`grading.kernels.use_this_python`). Without them (run by hand), the worker makes its own.
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
    import os

    from .kernels import KERNELS_ENV, skip_slow_imports, use_this_python

    skip_slow_imports()
    use_this_python(os.environ.get(KERNELS_ENV) or None)
    from otter.api import grade_submission

    from .results import grading_results_to_dict

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
