"""The results index's budget and power: each experiment's wall time against the budget probe's
prediction alone (over by how much, or within), the suite's minutes against its share of the two
hours, and the power its file's seeds were chosen for."""

from __future__ import annotations

import json

import pytest

from bnrepro.config.header import StatedPower, stated_power
from bnrepro.report.budget import SUITE_BUDGET_MIN, TWO_HOURS_MIN, Budget, prediction, predictions
from bnrepro.report.claims_report import write_index
from bnrepro.report.summaries import TableError

from conftest import REPO


def _probe_row(name: str, predicted_s: float | None, runs: int = 6, steps: int = 100, **more) -> dict:
    """One experiment as scripts/budget_probe.py records it in results/budget/*.json."""
    if predicted_s is None:
        return {"experiment": name, "error": "composing the sweep failed"}
    row = {"experiment": name, "steps": steps, "runs": runs, "measured": False, "b_s_per_step": 0.01}
    return {**row, "diverged": 0, "others_cores": 0.02, "predicted_s": predicted_s, **more}


def _probe(folder, file: str, date: str, rows: list[dict]):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text(json.dumps({"conditions": {"date": date}, "experiments": rows}))


def test_the_later_probe_counts_and_a_failed_row_is_not_a_prediction(tmp_path):
    _probe(tmp_path, "cpu.json", "2026-12-07 01:53 UTC", [_probe_row("a", 60.0), _probe_row("b", None)])
    _probe(tmp_path, "cpu_b.json", "2026-12-07 02:53 UTC", [_probe_row("b", 90.0), _probe_row("a", 30.0)])
    _probe(tmp_path, "old.json", "2026-12-06 23:00 UTC", [_probe_row("a", 10.0)])
    found = predictions(tmp_path)
    assert (found["a"].seconds, found["b"].seconds) == (30.0, 90.0)
    assert predictions(tmp_path / "absent") == {}  # no probe: every experiment 'not probed'


def test_a_budget_file_that_is_not_a_probe_record_is_refused_naming_it(tmp_path):
    (tmp_path / "cpu.json").write_text(json.dumps({"experiments": [_probe_row("a", 60.0)]}))  # no conditions
    with pytest.raises(TableError, match="cpu.json: not a budget probe's record"):
        predictions(tmp_path)


def _budget(predicted_s, wall_s, runs=6, steps=(100,), alone=True, **row) -> Budget:
    """An experiment of `runs` runs of `steps` that took wall_s, probed at 6 runs of 100 steps."""
    probed = prediction(_probe_row("a", predicted_s, **row), "2026-12-07") if predicted_s else None
    return Budget(probed, wall_s, runs, list(steps), alone)


@pytest.mark.parametrize(
    "budget, words",
    [
        (_budget(60.0, 100.0), "1.0 min; over by 0.7 min (+67%)"),
        (_budget(90.0, 100.0), "1.5 min; within (+0.2 min, +11%)"),  # 10 s: under the 30 s floor
        (_budget(600.0, 640.0), "10.0 min; within (+0.7 min, +7%)"),  # 40 s, but not 10% more
        (_budget(600.0, 570.0), "10.0 min; within (-0.5 min, -5%)"),
        (_budget(None, 100.0), "not probed"),
        (_budget(60.0, 100.0, runs=8), "1.0 min for 6 runs of 100 steps; not compared: these are 8 runs of 100 steps"),
        (_budget(60.0, 100.0, steps=(50, 100)), "not compared: these are 6 runs of 50, 100 steps"),
        (_budget(60.0, 100.0, alone=False), "1.0 min; not compared: not trained alone"),
        (_budget(60.0, 100.0, diverged=2), "1.0 min (2 run(s) diverged: an upper bound); over by 0.7 min (+67%)"),
    ],
)
def test_a_wall_time_is_over_its_prediction_only_beyond_the_tolerance_and_for_the_design_probed(budget, words):
    assert words in budget.words()


def test_the_power_field_is_found_in_the_headers_as_files_write_it():
    field = "# Seeds and power: pilot: 5 seeds. scripts/power.py gives the seeds\n#   per arm for 80% power: 4.\n"
    assert stated_power("# Claim: x\n" + field + "# Runtime: 1 minute\n") == StatedPower("Seeds and power", "80%")
    assert stated_power("# Pilot: 3 seeds.\n# Seeds, for 90% power at 0.05 / 9: 13\n") == StatedPower("Seeds", "90%")
    assert stated_power("# Seeds and power (Holm within 8 claims): 5 v 5 gives p = 0.004\n") == StatedPower(
        "Seeds and power", None
    )  # no figure: the index links the field
    assert stated_power("# Pilot: 80% power at 3,\n#   90% power at 4; for 80% power 3, for 90% power 4\n") == (
        StatedPower("Pilot", None)  # two figures: which one the seeds are for is the file's prose
    )
    assert stated_power("# Claim: x\n# Checks: an identity needs no power\n") is None


def _claims_file(results, name: str, seeds: str) -> None:
    claims = [{"text": "claim", "verdict": "reproduced", "evidence": "", "measured": ""}]
    entry = {"experiment": name, "runs": 6, "tests": 1, "dropped": [], "claims": claims, "provenance": []}
    entry |= {"steps": {"runs": [100], "file": 100}, "file_seeds": seeds, "runs_seeds": [1, 2, 3]}
    (results / "runs" / name).mkdir(parents=True)  # results/ too, before the claims file in it
    (results / f"{name}.claims.json").write_text(json.dumps(entry))
    record = {"device": "CPU", "wall_s": 100, "overrides": [], "others_cores": 0.01}
    (results / "runs" / name / "reproduce.json").write_text(json.dumps(record | {"load_before": 1, "load_after": 1}))


def test_the_index_gives_each_experiments_power_and_budget_and_the_suites_total(tmp_path):
    experiments = tmp_path / "conf" / "experiment"
    experiments.mkdir(parents=True)
    (experiments / "probed.yaml").write_text("# Seeds and power: 3 seeds per arm for 80% power.\n")
    (experiments / "sloppy.yaml").write_text("# Pilot: 3 seeds looked enough.\n")
    (experiments / "bare.yaml").write_text("# Suite: out of the CPU suite: too slow\n")
    results = tmp_path / "results"
    for name, seeds in (("probed", "1,2,3"), ("sloppy", "1,2,3"), ("bare", "1,2,3,4")):
        _claims_file(results, name, seeds)
    _probe(
        results / "budget", "cpu.json", "2026-12-07 01:53 UTC", [_probe_row("probed", 60.0), _probe_row("sloppy", 90.0)]
    )
    index = write_index(results, experiments).read_text()
    assert "| 3 (for 80% power: its [`Seeds and power`](../conf/experiment/probed.yaml)) |" in index
    assert "| 3 (power: its [`Pilot`](../conf/experiment/sloppy.yaml)) |" in index
    assert "| 3 in the runs (4 in the file, no power stated in [its file](../conf/experiment/bare.yaml)) |" in index
    assert "| 1.7 min | 1.0 min; over by 0.7 min (+67%) |" in index and "| 1.7 min | not probed |" in index
    assert (
        f"gets at most {SUITE_BUDGET_MIN} of the two hours' {TWO_HOURS_MIN} minutes" in index
        and "Here its 2 experiments with a recorded wall time took 3.3 minutes: within it (104.7 minutes to spare); "
        "the 1 trained outside it (bare) took 1.7 more."
        in index
    )
    assert (
        "the 2 experiments compared took 3.3 minutes where 2.5 were predicted, over by 0.8 min (+33%); "
        "1 of them over its own prediction (probed); not compared: 1 not probed (bare)." in index
    )


def test_the_suites_budget_is_the_one_docs_budget_states():
    rule = (REPO / "docs" / "budget.md").read_text()
    assert f"the suite gets at most {SUITE_BUDGET_MIN} of the {TWO_HOURS_MIN} minutes" in rule
