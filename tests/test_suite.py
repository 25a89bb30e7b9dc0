"""Which experiments the CPU suite trains (an experiment file's `# Suite:` line), and how the
claims report and the results index count the claims of experiments left out or not yet run:
listed with the reason, never dropped from a total in silence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from bnrepro.config import ConfigError
from bnrepro.config.suite import CPU, SuiteError, membership
from bnrepro.report.claims_report import write_index, write_report
from bnrepro.report.stated import claims_in_file

from conftest import REPO

CLAIM = "    - {text: 'claim %d', where: model.bn=pre, than: model.bn=none}\n"


@pytest.mark.parametrize(
    "header, form, reason",
    [
        ("# Claim: x\n", CPU, ""),  # no line: in the CPU suite
        ("# Suite: cpu\n", CPU, ""),
        (
            "# Suite: out of the CPU suite: all six claims\n#   need 30 seeds\n# Command: x\n",
            "out of the CPU suite",
            "all six claims need 30 seeds",
        ),  # fmt: skip
        (
            "# Suite: gpu only: the GPU profile is the paper's scale\n",
            "gpu only",
            "the GPU profile is the paper's scale",
        ),
    ],
)
def test_the_suite_line_is_read_with_its_reason(header, form, reason):
    found = membership("exp", header)
    assert (found.form, found.reason) == (form, reason) and found.in_cpu_suite == (form == CPU)


@pytest.mark.parametrize(
    "header, words",
    [
        ("# Suite: later\n", "'# Suite: later' is not a suite membership: write 'cpu', "),
        ("# Suite: gpu only:\n", "gives no reason"),
        ("# Suite: GPU\n", "is not a suite membership"),
        ("# Suite: cpu\n# Suite: gpu only: x\n", "2 '# Suite:' lines"),
    ],
)
def test_a_suite_line_outside_the_grammar_is_refused_naming_the_file_and_value(header, words):
    with pytest.raises(SuiteError, match="^exp.yaml: ") as refused:
        membership("exp", header)
    assert words in str(refused.value)


def _experiments(tmp_path, files: dict[str, tuple[str, int]]):
    folder = tmp_path / "conf" / "experiment"
    folder.mkdir(parents=True)
    for name, (header, claims) in files.items():
        text = header + "report:\n  claims:\n" + "".join(CLAIM % i for i in range(claims))
        (folder / f"{name}.yaml").write_text(text)
    return folder


def _results(tmp_path, name: str, verdicts: list[dict]):
    """A results folder holding one experiment's <name>.claims.json, as `bnrepro table` writes it."""
    results = tmp_path / "results"
    results.mkdir()
    claims = [
        {"text": f"claim {i}", "evidence": "", "measured": "", "combination": "", **v} for i, v in enumerate(verdicts)
    ]
    entry = {
        "experiment": name,
        "runs": 6,
        "provenance": [],
        "tests": len(claims),
        "dropped": [],
        "steps": {"runs": [100], "file": 100},
        "claims": claims,
    }
    (results / f"{name}.claims.json").write_text(json.dumps(entry))
    return results


def test_claims_of_left_out_and_unrun_experiments_are_counted_and_listed_with_the_reason(tmp_path):
    experiments = _experiments(
        tmp_path,
        {
            "ran": ("# Claim: x\n", 2),
            "gone": ("# Suite: out of the CPU suite: its claims need 30 seeds\n", 3),
            "later": ("# Claim: y\n", 1),
            "gpu": ("# Suite: gpu only: its GPU profile\n", 2),
        },
    )
    results = _results(
        tmp_path,
        "ran",
        [
            {"verdict": "inconclusive", "underpowered": "needs 74 seeds"},
            {"verdict": "reproduced"},
            {"verdict": "bn=none higher", "answers": ["bn=pre higher", "bn=none higher"], "underpowered": "12"},
        ],
    )
    report = write_report(results, experiments).read_text()
    assert "1 reproduced, 0 contradicted, 1 inconclusive, 0 not applicable" in report
    # apart, beside its verdict; a side found is counted as the totals count it, whichever side
    assert "; 2 under-powered by design (1 inconclusive, 1 a side higher)" in report
    total = "6 claims of 3 experiments without runs here (5 out of the CPU suite, 1 not yet run)"
    assert f"Not run: {total}, listed below." in report
    assert (
        "| `gone` | 3 | none: not run, out of the CPU suite | out of the CPU suite: its claims need 30 seeds |"
        in report
    )
    assert "| `later` | 1 | none: not yet run | cpu |" in report and "`ran`" not in report
    index = write_index(results, experiments).read_text()
    assert f"Claims: 3 judged from the runs here ([claims.md](claims.md)); not run: {total}, listed below." in index
    assert "| `gpu` | 2 | none: not run, out of the CPU suite | gpu only: its GPU profile |" in index


def test_a_left_out_experiment_with_runs_is_listed_and_its_verdicts_counted_once(tmp_path):
    experiments = _experiments(tmp_path, {"ran": ("# Suite: gpu only: trained on a GPU\n", 1)})
    results = _results(tmp_path, "ran", [{"verdict": "reproduced"}])
    index = write_index(results, experiments).read_text()
    assert "Claims: 1 judged from the runs here ([claims.md](claims.md))." in index  # no claim not run
    assert (
        "| [ran](ran.md) | 1 | 6 in results/ (verdicts above; when, at which commit: its reproduce.json) "
        "| gpu only: trained on a GPU |" in index
    )
    assert "Not run:" not in write_report(results, experiments).read_text()


def test_the_report_refuses_a_bad_suite_line_naming_it(tmp_path):
    experiments = _experiments(tmp_path, {"bad": ("# Suite: maybe\n", 1)})
    results = _results(tmp_path, "other", [{"verdict": "reproduced"}])
    with pytest.raises(SuiteError, match="bad.yaml: '# Suite: maybe'"):
        write_report(results, experiments)


def test_a_file_without_claims_of_its_own_counts_those_of_the_experiment_it_extends(tmp_path):
    experiments = _experiments(tmp_path, {"base": ("# Claim: x\n", 2)})
    (experiments / "child.yaml").write_text("defaults:\n  - base\n  - _self_\nname: child\n")
    assert [c["text"] for c in claims_in_file(experiments / "child.yaml")] == ["claim 0", "claim 1"]


def test_a_file_marks_an_inherited_claim_underpowered_by_its_text_and_a_text_matching_none_is_refused(tmp_path):
    experiments = _experiments(tmp_path, {"base": ("# Claim: x\n", 2)})
    child = experiments / "child.yaml"
    child.write_text("defaults:\n  - base\nreport:\n  underpowered_here:\n    claim 1: needs 24 seeds\n")
    assert [c.get("underpowered") for c in claims_in_file(child)] == [None, "needs 24 seeds"]
    assert "underpowered" not in claims_in_file(experiments / "base.yaml")[1]  # the shared list is left alone
    child.write_text("defaults:\n  - base\nreport:\n  underpowered_here:\n    claim 7: needs 24 seeds\n")
    with pytest.raises(ConfigError, match=r"'claim 7'\] \(.*child.yaml\).*no claim has that exact text; nearest"):
        claims_in_file(child)


@pytest.mark.slow  # five bash runs, each starting Python (~0.6 s)
def test_reproduce_sh_trains_the_cpu_suite_unless_named_or_quick(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "reproduce.sh", tmp_path / "scripts")
    _experiments(tmp_path, {"a": ("# Suite: cpu\n", 1), "b": ("# Suite: gpu only: conv net\n", 1), "c": ("", 1)})
    env = {**os.environ, "PYTHON": sys.executable}

    def listed(*args):
        done = subprocess.run(
            ["bash", tmp_path / "scripts" / "reproduce.sh", "--list", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[0], done.stderr

    trains, told = listed()
    assert trains == "trains (2): a c" and "not training" not in told  # the list names b, once
    # a real run says so on stderr (BNREPRO=false: it stops at the first training, having trained nothing)
    done = subprocess.run(
        ["bash", tmp_path / "scripts" / "reproduce.sh"], env={**env, "BNREPRO": "false"}, capture_output=True, text=True
    )
    assert done.returncode != 0 and "not training b (gpu only: conv net): name it to train it" in done.stderr
    assert listed("--quick")[0] == "trains (3): a b c"  # CI runs the whole pipeline
    trains, told = listed("b")
    assert trains == "trains (1): b" and "note: training b because it was named" in told
    (tmp_path / "conf" / "experiment" / "d.yaml").write_text("# Suite: soon\n")
    done = subprocess.run(
        ["bash", tmp_path / "scripts" / "reproduce.sh", "--list"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and "d.yaml: '# Suite: soon' is not a suite membership" in done.stderr


@pytest.mark.slow  # composes two experiments with Hydra (~1 s)
@pytest.mark.parametrize("name", ["placement_deep", "recipe_parts"])  # extends placement; extends fig3, own claims
def test_claims_read_without_composing_are_those_composing_gives(name):
    from bnrepro.launch.app import conf_dir
    from bnrepro.report.stated import experiment_file

    read = claims_in_file(conf_dir() / "experiment" / f"{name}.yaml")
    marks = [(c["text"], c.get("underpowered")) for c in read]  # the file's underpowered_here applied by both
    assert marks == [(c["text"], c.get("underpowered")) for c in experiment_file(name)["claims"]]
    if name == "placement_deep":  # its own marks, not placement's: 3 seeds, not 7
        assert all("gives 3" in why for _, why in marks if why) and sum(why is not None for _, why in marks) == 8
