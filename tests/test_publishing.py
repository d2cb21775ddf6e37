"""The GitHub Pages workflow builds the book as `make book` does and deploys it from main."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "deploy-book.yml"


def load():
    wf = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    # YAML 1.1 reads the bare key `on` as the boolean True
    wf["on"] = wf.pop(True, wf.get("on"))
    return wf


def steps(job):
    return load()["jobs"][job]["steps"]


def test_it_runs_on_every_push_to_main():
    assert load()["on"]["push"]["branches"] == ["main"]


def test_it_builds_with_the_strict_book_command_on_python_3_11():
    build = steps("build")
    runs = [s.get("run", "") for s in build]
    assert any(r.startswith("make book") for r in runs), runs
    python = [s for s in build if s.get("uses", "").startswith("actions/setup-python")]
    assert python and str(python[0]["with"]["python-version"]) == "3.11"
    # `make book` is the strict build: the same flags as CI's
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--warningiserror --nitpick --keep-going" in makefile


def test_it_uploads_the_built_html_and_deploys_it_to_pages():
    upload = [
        s for s in steps("build") if s.get("uses", "").startswith("actions/upload-pages-artifact")
    ]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    wf = load()
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
    assert wf["jobs"]["deploy"]["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in steps("deploy"))
