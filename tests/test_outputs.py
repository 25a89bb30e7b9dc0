"""Where `bnrepro table` / `figures` write, and the refusal to replace curated results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnrepro.report.outputs import check_replace, default_out
from bnrepro.report.summaries import TableError

from conftest import bnrepro
from test_tables import fake_run


def sweep(root: Path, steps: int, device: str) -> Path:
    for seed in (1, 2):
        fake_run(root, f"bn=pre_seed={seed}", seed, "pre", 0.9 + seed / 100)
        fake_run(root, f"bn=none_seed={seed}", seed, "none", 0.5 + seed / 100)
    for file in root.rglob("summary.json"):
        summary = json.loads(file.read_text())
        file.write_text(json.dumps({**summary, "steps_done": steps, "device_name": device}))
    return root


def test_outputs_go_beside_the_runs_by_default(tmp_path):
    runs = sweep(tmp_path / "runs" / "exp" / "2026-01-01_00-00-00", 10, "CPU")
    assert default_out([runs]) == runs / "tables"
    assert default_out([runs / "bn=pre_seed=1"]) == runs / "tables"  # a run: its sweep
    assert default_out([runs / "bn=pre_seed=1", runs / "bn=none_seed=2"]) == runs / "tables"
    other = sweep(tmp_path / "runs" / "exp" / "2026-01-02_00-00-00", 10, "CPU")
    assert default_out([runs, other]) == tmp_path / "runs" / "exp" / "tables"


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_results_from_other_steps_or_device_are_not_replaced_without_force(tmp_path):
    results = tmp_path / "results"
    gpu = sweep(tmp_path / "gpu", 50000, "NVIDIA H100")
    bnrepro("table", str(gpu), "--out", str(results), cwd=tmp_path, check=True)
    before = (results / "exp.md").read_text()
    check_replace([gpu], results)  # the same runs again: fine
    cpu = sweep(tmp_path / "cpu", 300, "CPU (x86_64, 2 threads)")
    with pytest.raises(TableError, match=r"steps 50000 there, 300 in these runs; device NVIDIA H100 there"):
        check_replace([cpu], results)
    done = bnrepro("table", str(cpu), "--out", str(results), cwd=tmp_path)
    assert done.returncode == 1 and "--force" in done.stderr and "300 in these runs" in done.stderr
    assert (results / "exp.md").read_text() == before  # nothing written
    check_replace([cpu], tmp_path / "elsewhere")  # only results/ is curated
    bnrepro("table", str(cpu), "--out", str(results), "--force", cwd=tmp_path, check=True)
    assert "300" in (results / "exp.md").read_text()


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_table_without_out_writes_beside_the_runs(tmp_path):
    runs = sweep(tmp_path / "runs" / "exp" / "t", 10, "CPU")
    printed = bnrepro("table", "runs/exp/t", cwd=tmp_path, check=True).stdout.split()
    assert "runs/exp/t/tables/exp.md" in printed
    assert (runs / "tables" / "exp.md").is_file() and not (tmp_path / "results").exists()
