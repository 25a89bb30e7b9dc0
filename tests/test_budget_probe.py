"""scripts/budget_probe.py: the lengths it probes, the fit, and the schedule it forces (no training)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from bnrepro.launch.schedule import MIN_RUN_STEPS, choose

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("budget_probe", REPO / "scripts" / "budget_probe.py")
probe = sys.modules["budget_probe"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(probe)


def test_lengths_span_whole_cadences_near_the_fractions_the_second_at_least_twice_the_first():
    assert probe.lengths(50_000, 500, 100, (0.02, 0.04)) == (1000, 2000)  # mnist_fig1
    assert probe.lengths(8_000, 250, 100, (0.02, 0.04)) == (200, 450)  # fig3: 160 and 320 rounded
    assert probe.lengths(2_000, 250, 100, (0.02, 0.04)) == (100, 350)  # ics: L1 is not a whole cadence
    assert probe.lengths(100_000, 1000, 100, (0.02, 0.03)) == (2000, 4000)  # L2 >= 2 x L1
    for steps, every, log in ((50_000, 500, 100), (8_000, 250, 100), (3_000, 500, 70), (100_000, 700, 100)):
        first, second = probe.lengths(steps, every, log, (0.02, 0.04))
        assert first % log == 0 and (second - first) % every == 0 and second >= 2 * first and 2 * second <= steps


@pytest.mark.parametrize("steps, every", [(1, 1), (2_000, 500), (1_500, 500), (1_000, 250)])
def test_short_experiments_are_trained_once_at_full_length(steps, every):
    assert probe.lengths(steps, every, 100, (0.02, 0.04)) is None


def test_cadence_is_the_largest_periodic_one_set():
    plan = {"eval_every": 250, "log_every": 100, "other_every": [0, 500, 0]}
    assert probe.cadence(plan) == 500
    assert probe.cadence(plan | {"other_every": [0, 0, 0]}) == 250


def test_fit_recovers_a_line_and_predicts_the_full_length():
    a, b = probe.fit([(1000, 10.0 + 0.02 * 1000), (2000, 10.0 + 0.02 * 2000)])
    assert a == pytest.approx(10.0) and b == pytest.approx(0.02)
    assert a + b * 50_000 == pytest.approx(1010.0)


@pytest.mark.parametrize(
    "groups, runs",
    [
        ([[0, 1], [2, 3], [4, 5], [6, 7]], 8),  # packs enough for the cores
        ([[0, 1, 2, 3, 4]], 5),  # one pack split to fill the cores
        ([[0], [1, 2, 3]], 4),  # a split that stops short
        ([[0]], 1),  # one run: this process
    ],
)
@pytest.mark.parametrize("cores", [2, 3])
def test_the_forced_override_gives_a_short_probe_the_full_lengths_schedule(groups, runs, cores):
    full_steps, probe_steps = 10 * MIN_RUN_STEPS, 20  # the probe alone would stay in this process
    full = choose(groups, runs * full_steps, cores, gpu=False)
    assert choose(groups, runs * probe_steps, cores, gpu=False).processes == 1
    (override,) = probe.forced_override(full.processes)
    forced = int(override.removeprefix("train.processes="))
    short = choose(groups, runs * probe_steps, cores, gpu=False, processes=forced)
    assert (short.processes, short.groups) == (full.processes, full.groups)


def test_a_full_run_that_stays_in_this_process_is_forced_to_stay():
    full = choose([[0, 1], [2, 3]], 30, 2, gpu=False)  # init_statistics: 1 step per run
    assert full.processes == 1 and probe.forced_override(full.processes) == ["train.processes=1"]
    assert probe.forced_override(None) == []  # a named launcher runs the packs whatever the length


def test_the_schedule_line_printed_is_read_back():
    assert probe.schedule_seen("fig3: 4 packs on 2 processes x 1 thread (auto: ...)") == (4, 2)
    assert probe.schedule_seen("x: 1 pack in this process, one after another (train.processes=1)") == (1, 1)
    assert probe.schedule_seen("x: 2 packs on the launcher you named (hydra/launcher=joblib)") == (2, None)
    assert probe.schedule_seen("no line") is None


@pytest.mark.parametrize("text", ["0.02", "0.04,0.02", "a,b", "0,0.1", "0.2,0.6"])
def test_bad_fractions_are_refused(text):
    with pytest.raises(probe.ProbeError, match="--fractions"):
        probe.parse_fractions(text)


def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "budget.md"
    assert probe.main(["no_such_experiment", "--out", str(out)]) == 2
    assert "no experiment no_such_experiment" in capsys.readouterr().err
    assert probe.main(["mnist_fig1", "--out", str(out), "--fractions", "0.1"]) == 2
    assert probe.main(["mnist_fig1", "--out", str(out), "--set", "train.steps=5"]) == 2
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_full_length_experiment_is_measured_on_its_own_schedule(tmp_path):
    """End to end on the sweeper itself (the plan reads its internals): init_statistics' 1-step
    sweep stays in this process, so the probe forces train.processes=1 and trains it once (2 of
    its 30 runs, no pictures or histograms: a few seconds)."""
    out = tmp_path / "budget.md"
    small = ["seed=1", "model.init_std=0.01", "probes.pictures=false", "probes.hist_every=0"]
    assert probe.main(["init_statistics", "--out", str(out), *(f"--set={s}" for s in small)]) == 0
    (row,) = json.loads(out.with_suffix(".json").read_text())["experiments"]
    assert row["measured"] and row["steps"] == 1 and row["processes"] == 1 and row["runs"] == 2
    assert row["predicted_s"] == row["timed"][0]["wall"] > 0
    assert "| init_statistics | 1 | 2 | 2 packs, this process |" in out.read_text()
