"""results/ is rebuilt byte for byte from the raw runs committed in results/runs/."""

from __future__ import annotations

import shutil

import pytest

from bnrepro.report.claims_report import write_index, write_report
from bnrepro.report.tables import write_tables

from conftest import REPO

RESULTS = REPO / "results"
# bnrepro bench, scripts/compare_bn_layers.py and scripts/suite_floor.py write these, not bnrepro table/figures/report
NOT_FROM_RUNS = (
    "bench.md",
    "bench_cpu.md",
    "bench_cpu_mlp.md",
    "bench_cpu_pack.md",
    "bench_schedule_cpu.md",
    "bn_layers.md",
    "suite_floor.md",  # scripts/suite_floor.py, from the runs and the bench's matmul rates
)


def _experiments():
    found = sorted(p for p in (RESULTS / "runs").iterdir() if p.is_dir())
    assert found, "results/runs/ holds no experiment: the committed results cannot be rebuilt"
    return found


def _rebuilt(tmp_path):
    out = tmp_path / "results"
    shutil.copytree(RESULTS / "runs", out / "runs")
    shutil.copytree(RESULTS / "budget", out / "budget")  # the probe's predictions: the index's budget column
    write_tables(_experiments(), out)
    write_report(out)
    write_index(out)
    return out


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_every_committed_table_and_report_rebuilds_byte_identically_from_the_runs(tmp_path):
    out = _rebuilt(tmp_path)
    committed = {p.name for p in RESULTS.iterdir() if p.suffix in (".md", ".csv", ".json")} - set(NOT_FROM_RUNS)
    rebuilt = {p.name for p in out.iterdir() if p.is_file()}
    assert committed == rebuilt, "results/ holds tables its runs do not give, or lacks some"
    for name in sorted(rebuilt):
        assert (out / name).read_bytes() == (RESULTS / name).read_bytes(), f"results/{name} differs from its rebuild"


def test_committed_runs_are_only_summaries_and_scalars():
    for experiment in _experiments():
        for path in experiment.rglob("*"):
            if path.is_file():
                assert path.name in ("summary.json", "scalars.csv", "planned_runs.json", "reproduce.json"), path


@pytest.mark.slow
def test_every_committed_figure_rebuilds_byte_identically(tmp_path):
    from bnrepro.report.figures import figures

    out = tmp_path / "figures"
    written = {p.name for p in figures(_experiments(), out)}
    assert written == {p.name for p in RESULTS.glob("*.png")}
    for name in sorted(written):
        assert (out / name).read_bytes() == (RESULTS / name).read_bytes(), f"results/{name} differs from its rebuild"


def test_every_commit_the_results_name_is_in_the_repository_or_said_not_to_be():
    import re
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)

    if git("rev-parse", "--is-shallow-repository").stdout.strip() != "false":
        pytest.skip("not a full git checkout: its history cannot be asked")
    missing = []
    for document in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted(RESULTS.glob("*.md"))]:
        for line in document.read_text().splitlines():
            for word in re.findall(r"\b[0-9a-f]{7,40}\b", line):
                named = re.search(r"[a-f]", word) and re.search(r"[0-9]", word)
                if (
                    named
                    and "not in this repository" not in line
                    and git("cat-file", "-e", f"{word}^{{commit}}").returncode
                ):
                    missing.append(f"{document.name}: {word}")
    assert not missing, f"commits named but not in the repository (nor said not to be): {missing}"
