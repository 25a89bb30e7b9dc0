"""What a student sees: run names, hparams, histograms, Custom Scalars charts, progress lines."""

from __future__ import annotations

import re

from bnrepro.config import to_plain
from bnrepro.launch.runnames import run_names, swept_config_keys
from bnrepro.run.loop import train_runs
from bnrepro.run.progress import result_line
from bnrepro.run.tags import custom_scalars_layout, histogram_every, train_scalars
from bnrepro.run.writers import hparam_row

from conftest import tiny


def test_run_names_keep_the_experiments_axes_when_the_command_line_fixes_them():
    jobs = [["+experiment=sigmoid10", "model.bn=pre", f"seed={s}"] for s in (1, 2)]
    assert run_names(jobs, [1, 2], ["model.bn", "seed"], axes=("model.bn", "seed")) == [
        "bn=pre_seed=1",
        "bn=pre_seed=2",
    ]
    assert run_names(jobs, [1, 2], ["model.bn", "seed"]) == ["seed=1", "seed=2"]  # no axes: only what varies


def test_hparams_are_the_swept_keys_and_the_usual_suspects():
    jobs = [["norm=renorm", f"train.batch_size={b}", "seed=1"] for b in (4, 60)]
    swept = swept_config_keys(jobs, axes=("norm",))
    assert swept == ("model.norm.kind", "train.batch_size", "seed")
    row = hparam_row(to_plain(tiny(model__bn="pre")), swept)
    assert list(row) == ["model.bn", "model.activation", "optim.lr", "seed", "model.norm.kind", "train.batch_size"]
    assert row["model.bn"] == "pre" and row["train.batch_size"] == 16


def test_about_twenty_histograms_per_run_by_default():
    assert histogram_every(5000, 100, None) == 200  # 25 histograms
    assert histogram_every(50000, 100, None) == 2500
    assert histogram_every(30, 10, None) == 10  # never less than a probe interval
    assert histogram_every(5000, 100, 0) == 0 and histogram_every(5000, 100, 1000) == 1000


def test_every_custom_scalars_chart_has_one_tag_per_layer_and_names_logged_tags():
    import numpy as np

    depth = 3
    stats = ("unit_p15", "unit_p50", "unit_p85", "p15", "p50", "p85", "mean", "std", "saturated", "linear")
    names = (
        [f"grad_norm/layer_{i:02d}" for i in range(1, depth + 2)]
        + ["grad_norm/first_over_last_hidden"]
        + [f"act/layer_{i:02d}/{s}" for i in range(1, depth + 1) for s in stats]
    )
    logged = set(train_scalars(np.ones((3, 1)), np.ones(1), tuple(names), np.full((len(names), 1), 1e-6), 0)) | {
        "test/acc",
        "test/loss",
    }
    assert logged >= {"grad_norm_log10/layer_01", "grad_norm_log10/first_over_last_hidden"}
    for category in custom_scalars_layout(depth).values():
        for title, (kind, tags) in category.items():
            for tag in tags:
                matches = [t for t in logged if re.fullmatch(tag.strip("^$"), t)]
                assert len(matches) == 1, (title, tag, matches)  # one quantity of one layer per chart
    probes = {"landscape_every": 50, "ics_every": 50, "ics_layers": [2, 4], "which": ["grad_norm", "shift"]}
    santurkar = custom_scalars_layout(depth, probes)["why BN works (Santurkar et al. 2018)"]
    tags = {tag.strip("^$") for _, (_, chart) in santurkar.items() for tag in chart}
    assert {"landscape/loss_range", "ics/layer_04/cos", "shift/layer_03/mean"} <= tags
    assert "why BN works (Santurkar et al. 2018)" not in custom_scalars_layout(depth)  # nothing when off
    units = custom_scalars_layout(depth, {"which": ["dead", "affine"]})["BN's scales and dead units"]
    tags = {tag.strip("^$") for _, (_, chart) in units.items() for tag in chart}
    assert {"dead/all", "dead/layer_03", "affine/layer_02/gamma_mean", "affine/layer_01/beta_mean"} <= tags
    assert "BN's scales and dead units" not in custom_scalars_layout(depth, {"which": ["grad_norm"]})


def test_without_a_terminal_training_prints_a_line_about_every_ten_percent(tmp_path):
    lines = []
    train_runs(
        [tiny(train__progress=None, train__steps=100, seed=s) for s in (1, 2)],
        [tmp_path / "a", tmp_path / "b"],
        log=lines.append,
    )
    progress = [line for line in lines if re.search(r"step \d+/100 \(\d+%\)", line)]
    assert 5 <= len(progress) <= 10, lines
    assert "steps/s, ETA" in progress[-1] and "test acc" in progress[-1] and "(mean of 2)" in progress[-1]
    quiet = []
    train_runs([tiny(train__steps=100)], [tmp_path / "c"], log=quiet.append)  # train.progress=false
    assert not any("ETA" in line for line in quiet)


def test_a_run_stopped_before_its_first_evaluation_says_so():
    summary = {"status": "interrupted", "test_acc_final": None, "test_acc_best": None, "best_step": None}
    assert result_line("runs/x", summary) == "  runs/x: interrupted, no evaluation yet"
    summary.update(status="completed", test_acc_final=0.95, test_acc_best=0.96, best_step=500)
    assert result_line("runs/x", summary) == "  runs/x: completed, test acc 0.9500 (best 0.9600 at step 500)"


def test_table_headers_are_words_and_the_footnote_gives_the_tag():
    from bnrepro.report.words import footnotes, header

    assert header("act/layer_03/unit_p50:change") == "unit p50 drift (layer 3)"
    assert header("grad_norm/layer_01:median") == "gradient norm, run median (layer 1)"
    assert header("train/loss:first") == "train loss at step 1"
    assert header("test/acc:steps_to=0.8") == "test acc: steps to 0.8"
    assert header("best_step") == "step of best (mean over seeds)"
    assert header("no/such_tag") == "no/such_tag"
    (note,) = footnotes(["test_acc_final", "act/layer_03/unit_p50:change"])
    assert "`act/layer_03/unit_p50:change`" in note and "|final - first|" in note
