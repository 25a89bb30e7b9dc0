"""The command line, run as a user runs it (subprocesses)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import bnrepro

TINY = [
    "data=synthetic",
    "data.synthetic_train=256",
    "data.synthetic_test=128",
    "device=cpu",
    "model.width=16",
    "train.steps=20",
    "train.batch_size=16",
    "train.log_every=10",
    "train.eval_every=10",
]


def test_help_lists_the_subcommands(tmp_path):
    out = bnrepro("--help", cwd=tmp_path, check=True).stdout
    for command in ("train", "table", "figures", "data"):
        assert f"\n  {command}" in out


def test_unknown_subcommand_fails(tmp_path):
    done = bnrepro("trian", cwd=tmp_path)
    assert done.returncode == 2 and "unknown command 'trian'" in done.stderr


@pytest.mark.slow
def test_train_help_and_cfg_job(tmp_path):
    help_text = bnrepro("train", "--help", cwd=tmp_path, check=True).stdout
    assert "mnist_fig1" in help_text and "sigmoid10" in help_text
    job = bnrepro("train", "--cfg", "job", "+experiment=sigmoid10", cwd=tmp_path, check=True).stdout
    assert "depth: 10" in job
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_tab_completion_through_the_dispatcher(tmp_path):
    env = {"COMP_LINE": "bnrepro train model.acti", "COMP_POINT": "24"}
    keys = bnrepro("-sc", "query=bash", cwd=tmp_path, env=env, check=True).stdout
    assert "model.activation=" in keys
    env = {"COMP_LINE": "bnrepro train +experiment=", "COMP_POINT": "26"}
    assert "+experiment=sigmoid10" in bnrepro("-sc", "query=bash", cwd=tmp_path, env=env, check=True).stdout
    env = {"COMP_LINE": "bnrepro ", "COMP_POINT": "8"}
    assert "train" in bnrepro("-sc", "query=bash", cwd=tmp_path, env=env, check=True).stdout.split()
    script = bnrepro("train", "-sc", "install=bash", cwd=tmp_path, check=True).stdout
    assert "complete" in script and script.rstrip().endswith("bnrepro")


@pytest.mark.slow
def test_a_sweep_writes_one_summary_per_run_and_a_table_with_one_row_per_config(tmp_path):
    runs = tmp_path / "runs"
    done = bnrepro(
        "train", *TINY, f"out_dir={runs}", "name=smoke", "model.bn=none,pre", "seed=1,2", cwd=tmp_path, check=True
    )
    (sweep,) = (runs / "smoke").iterdir()
    names = sorted(
        p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")
    )  # .packs: the sweeper's
    assert names == ["bn=none_seed=1", "bn=none_seed=2", "bn=pre_seed=1", "bn=pre_seed=2"]
    for name in names:
        summary = json.loads((sweep / name / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["steps_done"] == 20
        assert summary["command"].startswith("bnrepro train data=synthetic")
        assert any(f.name.startswith("events.out.tfevents") for f in (sweep / name).iterdir())
    assert "training 2 runs together" in done.stderr  # seeds of one architecture are batched

    results = tmp_path / "results"
    bnrepro("table", str(sweep), "--out", str(results), cwd=tmp_path, check=True)
    table = pd.read_csv(results / "smoke.csv")
    assert list(table["model.bn"]) == ["none", "pre"]
    assert list(table["n"]) == [2, 2]
    assert (table["test_acc_final std"] > 0).all()
    markdown = (results / "smoke.md").read_text()
    assert "± " in markdown and "bnrepro train data=synthetic" in markdown and "CPU" in markdown


@pytest.mark.slow
def test_one_by_one_launcher_option(tmp_path):
    done = bnrepro(
        "train",
        *TINY,
        f"out_dir={tmp_path / 'runs'}",
        "seed=1,2",
        "hydra.sweeper.batch=false",
        cwd=tmp_path,
        check=True,
    )
    assert done.stderr.count("training 1 run together") == 2


@pytest.mark.slow
def test_data_fetch_reports_failure_clearly(tmp_path):
    # An empty PATH: no npm, no apt-get; torchvision's download fails without network here.
    env = {"PATH": "", "BNREPRO_DATA": str(tmp_path / "data")}
    done = bnrepro("data", "fetch", "mnist", cwd=tmp_path, env=env)
    if done.returncode == 0:
        pytest.skip("torchvision could download MNIST from this machine")
    assert "Tried:" in done.stderr and "npm" in done.stderr and "What to do" in done.stderr
    assert not any((tmp_path / "data").rglob("*-ubyte"))


def test_version(tmp_path):
    assert bnrepro("--version", cwd=tmp_path, check=True).stdout.startswith("bnrepro ")


def test_completion_offers_the_choices_of_enum_keys(tmp_path):
    env = {"COMP_LINE": "bnrepro train model.bn=", "COMP_POINT": "23"}
    assert bnrepro("-sc", "query=bash", cwd=tmp_path, env=env, check=True).stdout.split() == [
        "model.bn=none",
        "model.bn=pre",
        "model.bn=post",
        "model.bn=input",
        "model.bn=both",
    ]
    env = {"COMP_LINE": "bnrepro train eval.stats=p", "COMP_POINT": "26"}
    assert bnrepro("-sc", "query=bash", cwd=tmp_path, env=env, check=True).stdout.split() == ["eval.stats=population"]


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_cfg_job_of_a_sweep_shows_the_first_job_and_names_the_swept_keys(tmp_path):
    out = bnrepro("train", "--cfg", "job", "-m", "model.bn=none,pre", "seed=1,2", cwd=tmp_path, check=True).stdout
    assert "# a sweep of 4 jobs over model.bn: none, pre; seed: 1, 2" in out
    assert "\nseed: 1\n" in out and "  bn: none\n" in out
    out = bnrepro("train", "--cfg", "job", "+experiment=sigmoid10", "model.bn=pre", cwd=tmp_path, check=True).stdout
    assert "# a sweep of 6 jobs over +sigmoid10: modern, classic; seed: 4, 5, 6" in out
    assert "  bn: pre\n" in out and "depth: 10" in out and "variant: modern" in out
    out = bnrepro(
        "train", "--cfg", "job", "+experiment=sigmoid10", "+sigmoid10=classic", cwd=tmp_path, check=True
    ).stdout  # a config group the file sweeps, chosen on the command line
    assert "# a sweep of 6 jobs over model.bn: none, pre; seed: 4, 5, 6" in out
    assert "variant: classic" in out and "loss: mse" in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cfg_job_of_declared_arms_lists_the_arms_and_refuses_a_sweep_of_their_key(tmp_path):
    out = bnrepro("train", "--cfg", "job", "+experiment=scale_invariance", "model.bn=pre", cwd=tmp_path, check=True)
    assert out.stdout.startswith(
        "# a sweep of 18 jobs over 2 arms (arm 2 (model.bn=pre model.norm.eps=1e-5); "
        "arm 3 (model.bn=pre model.norm.eps=1e-9)) x model.weight_scale: 0.1, 1, 10; seed: 1, 2, 3\n"
    )
    assert "  bn: pre\n" in out.stdout and "    eps: 1.0e-05\n" in out.stdout
    refused = bnrepro("train", "--cfg", "job", "+experiment=scale_invariance", "model.bn=none,pre", cwd=tmp_path)
    assert refused.returncode == 1 and refused.stderr.startswith("error: model.bn=none,pre: the experiment's arms")
    assert "Traceback" not in refused.stderr and list(tmp_path.iterdir()) == []


def test_bench_options_all_have_help(capsys):
    import re

    from bnrepro.bench import main as bench_main

    with pytest.raises(SystemExit):
        bench_main(["--help"])  # in this process: torch is loaded already
    text = capsys.readouterr().out
    blocks = re.split(r"\n(?=  -)", text.split("options:", 1)[1])[1:]  # one per option
    assert len(blocks) >= 8
    for block in blocks:
        signature, _, rest = block.strip().partition("  ")  # argparse puts 2+ spaces before the help
        assert rest.strip() or "\n" in block.strip(), f"no help text: {signature}"
