"""Provenance: dirty means "this tree differs from its commit", new files included; unknown is unknown."""

from __future__ import annotations

import subprocess

import pandas as pd

from bnrepro.report.tables import provenance_lines
from bnrepro.run import provenance


def _repo(path):
    def git(*args):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)

    git("init", "-q")
    (path / "a.py").write_text("x = 1\n")
    (path / ".gitignore").write_text("runs/\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return git


def test_a_new_untracked_source_file_makes_the_tree_dirty(tmp_path, monkeypatch):
    monkeypatch.delenv("BNREPRO_COMMIT", raising=False)
    _repo(tmp_path)
    assert provenance.git_state(tmp_path)[1] is False
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "out.txt").write_text("ignored output")
    assert provenance.git_state(tmp_path)[1] is False  # what git ignores is not a change
    (tmp_path / "results" / "runs").mkdir(parents=True)
    (tmp_path / "results" / "runs" / "summary.json").write_text("{}")
    assert provenance.git_state(tmp_path)[1] is False  # results/ holds outputs, not source
    (tmp_path / "new.py").write_text("y = 2\n")
    assert provenance.git_state(tmp_path)[1] is True


def test_an_unknown_tree_state_is_unknown_not_clean(tmp_path, monkeypatch):
    monkeypatch.delenv("BNREPRO_COMMIT", raising=False)
    assert provenance.git_state(tmp_path) == ("unknown", None)  # not a git checkout
    monkeypatch.setenv("BNREPRO_COMMIT", "abc")
    monkeypatch.delenv("BNREPRO_DIRTY", raising=False)
    assert provenance.git_state(tmp_path) == ("abc", None)
    monkeypatch.setenv("BNREPRO_DIRTY", "0")
    assert provenance.git_state(tmp_path) == ("abc", False)
    runs = pd.DataFrame({"commit": ["abc", "abc"], "dirty": [False, None], "device_name": ["CPU", "CPU"]})
    assert "commit: abc (tree state unknown)" in "\n".join(provenance_lines(runs))
    runs["dirty"] = [False, False]
    assert any(line == "- commit: abc" for line in provenance_lines(runs))
