"""The course's exercise machinery, on top of otter-grader (https://otter-grader.readthedocs.io).

Two commands (see the README, "Exercises and grading"):

``python -m grading assign`` (``make exercises``)
    Runs ``otter assign`` on every master notebook ``exercises/masters/NN_topic.ipynb`` (solutions,
    public and hidden tests) and writes, deterministically, the student notebook
    ``exercises/NN_topic.ipynb`` (no solutions, public tests only, in its metadata) and the
    autograder, unzipped, in ``exercises/autograder/NN_topic/``. ``--check`` regenerates into a
    temporary folder and fails if anything committed differs.

``python -m grading grade PATH ...`` (``make grade SUBMISSIONS=...``)
    Grades submitted notebooks (files, ``.zip`` exports or folders of them) with the public and
    hidden tests, one fresh kernel per submission, and writes a CSV and a JSON report: one row per
    student, one column per exercise, the total, and the failure messages. Bad submissions cost
    points, not the run: see :mod:`grading.grade`.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
MASTERS = EXERCISES / "masters"
AUTOGRADERS = EXERCISES / "autograder"
