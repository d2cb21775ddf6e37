"""Generate the student notebooks and the autograders from the masters, deterministically.

For every master ``exercises/masters/NN_topic.ipynb`` (otter-assign format: solutions, public and
hidden tests), ``otter assign`` produces a student notebook and an autograder zip. This module
keeps them in a form that can be committed and compared:

- ``exercises/NN_topic.ipynb``: the student notebook (no solutions; the public tests in its
  metadata, which ``grader.check`` reads), with cell ids numbered instead of random;
- ``exercises/autograder/NN_topic/``: the files of the autograder zip that ``otter run`` reads
  (``otter_config.json`` and ``tests/*.py`` with the public and hidden tests), unzipped, because
  otter names its zips with a timestamp. ``python -m grading grade`` zips the folder on the fly.
  The Gradescope set-up files otter also puts in the zip (``setup.sh``, ``environment.yml``,
  ``run_autograder``, ``run_otter.py``) are dropped: ``otter run`` grades in the current
  environment and never reads them, and they are the same for every chapter.

Nothing else otter writes (the autograder copy of the notebook, which holds the solutions, and
the zip) is kept.
"""

from __future__ import annotations

import filecmp
import shutil
import tempfile
import zipfile
from pathlib import Path

import nbformat

from . import AUTOGRADERS, EXERCISES, MASTERS
from .kernels import use_this_python

# Files of otter's autograder zip that only a Gradescope container uses (see the module docstring).
GRADESCOPE_ONLY = frozenset({"setup.sh", "environment.yml", "run_autograder", "run_otter.py"})


def masters(names=None) -> list[Path]:
    """The master notebooks, optionally only those whose stem is in ``names``."""
    found = sorted(MASTERS.glob("[0-9][0-9]_*.ipynb"))
    if names:
        found = [p for p in found if p.stem in set(names)]
    return found


def normalize(nb: nbformat.NotebookNode, prefix: str) -> nbformat.NotebookNode:
    """Make a generated notebook byte-for-byte reproducible: numbered cell ids, no outputs."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{prefix}-{i:03d}"
        if cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    keep = {k: nb.metadata[k] for k in ("kernelspec", "language_info", "otter") if k in nb.metadata}
    nb.metadata = nbformat.from_dict(keep)
    nbformat.validate(nb)
    return nb


def assign_one(master: Path, workdir: Path, run_tests: bool = True) -> dict[str, Path]:
    """Run ``otter assign`` on ``master`` inside ``workdir``.

    Returns the paths of the raw ``student`` notebook, the ``autograder`` notebook (the student
    notebook with the solutions in place: a full-marks submission) and the autograder ``zip``.
    With ``run_tests``, otter grades the autograder notebook and fails unless it scores full marks.
    """
    from otter.assign import main as otter_assign

    use_this_python()
    src = workdir / "master" / master.name
    src.parent.mkdir(parents=True)
    shutil.copy(master, src)
    dist = workdir / "dist"
    otter_assign(str(src), str(dist), no_pdfs=True, no_run_tests=not run_tests)
    zips = sorted((dist / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"otter assign made {len(zips)} autograder zips for {master.name}")
    return {
        "student": dist / "student" / master.name,
        "autograder": dist / "autograder" / master.name,
        "zip": zips[0],
    }


def generated_from(master: Path) -> str:
    """The line that heads every generated file: where it comes from and how to regenerate it."""
    return (
        f"Generated from exercises/masters/{master.name} by `make exercises`: "
        "edit the master, not this file."
    )


def write_outputs(master: Path, made: dict[str, Path], out: Path) -> None:
    """Write the normalized student notebook and the unzipped autograder of one master to ``out``."""
    name = master.stem
    nb = normalize(nbformat.read(made["student"], as_version=4), name[:2])
    first = nb.cells[0]
    if first.cell_type != "code":
        raise RuntimeError(
            f"otter assign's student notebook for {master.name} does not start with its init cell"
        )
    first.source = f"# {generated_from(master)}\n{first.source}"
    nbformat.write(nb, out / f"{name}.ipynb")
    dest = out / "autograder" / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with zipfile.ZipFile(made["zip"]) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if info.is_dir() or info.filename in GRADESCOPE_ONLY:
                continue
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            data = zf.read(info)
            if target.suffix in {".py", ".json", ".yml", ".sh", ""}:
                data = data.replace(b"\r\n", b"\n")
            if target.suffix == ".py":
                data = f"# {generated_from(master)}\n".encode() + data
            target.write_bytes(data)


def generate(
    out: Path = EXERCISES, names=None, run_tests: bool = True, keep: Path | None = None
) -> list[Path]:
    """Regenerate the student notebooks and autograders of the masters into ``out``.

    ``keep``: a folder in which to leave otter's raw output per master (the tests use the
    autograder notebooks, full-marks submissions, from there). Stale outputs whose master is gone
    are removed when generating everything into the repository.
    """
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for master in masters(names):
        with tempfile.TemporaryDirectory(prefix=f"assign-{master.stem}-") as tmp:
            made = assign_one(master, Path(tmp), run_tests=run_tests)
            write_outputs(master, made, out)
            if keep is not None:
                target = keep / master.stem
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(Path(tmp) / "dist", target)
        done.append(master)
    if names is None and out.resolve() == EXERCISES.resolve():
        stems = {m.stem for m in done}
        for nb in EXERCISES.glob("[0-9][0-9]_*.ipynb"):
            if nb.stem not in stems:
                nb.unlink()
        for ag in AUTOGRADERS.glob("[0-9][0-9]_*"):
            if ag.is_dir() and ag.name not in stems:
                shutil.rmtree(ag)
    return done


def committed_files(root: Path, names) -> list[Path]:
    """The generated files under ``root`` (relative paths) for the masters ``names``."""
    files = []
    for name in names:
        files.append(Path(f"{name}.ipynb"))
        ag = root / "autograder" / name
        if ag.is_dir():
            files += sorted(p.relative_to(root) for p in ag.rglob("*") if p.is_file())
    return files


def differences(generated: Path, committed: Path = EXERCISES, names=None) -> list[str]:
    """What differs between freshly generated outputs and the committed ones (empty: no drift)."""
    names = [m.stem for m in masters(names)]
    problems = []
    new = set(committed_files(generated, names))
    old = set(committed_files(committed, names))
    for path in sorted(new - old):
        problems.append(f"missing from the repository: exercises/{path}")
    for path in sorted(old - new):
        problems.append(f"no longer generated: exercises/{path}")
    for path in sorted(new & old):
        if not (committed / path).exists():
            problems.append(f"missing from the repository: exercises/{path}")
        elif not filecmp.cmp(generated / path, committed / path, shallow=False):
            problems.append(f"differs from what the master generates: exercises/{path}")
    every_master = {
        m.stem for m in masters()
    }  # orphans are judged against all masters, not ``names``
    for nb in committed.glob("[0-9][0-9]_*.ipynb"):
        if nb.stem not in every_master:
            problems.append(f"a student notebook without a master: exercises/{nb.name}")
    return problems
