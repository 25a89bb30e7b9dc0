"""`bnrepro new-experiment`: the file it writes states every header field and claim field,
refuses a bad or taken name, and trains as written."""

from __future__ import annotations

import dataclasses

import pytest

from bnrepro.config import ClaimConfig
from bnrepro.config.header import HEADER_FIELDS, missing_fields
from bnrepro.config.suite import membership
from bnrepro.launch.scaffold import CLAIM_FIELDS, ScaffoldError, new_experiment

from conftest import bnrepro


def test_the_new_file_lists_every_header_field_and_every_claim_field(tmp_path):
    text = new_experiment("my_question", tmp_path).read_text()
    assert not missing_fields(text)
    assert membership("my_question", text).in_cpu_suite  # its `# Suite:` line parses
    for field in HEADER_FIELDS:  # the fields not enforced on older files too
        assert f"# {field.label}:" in text
    assert list(CLAIM_FIELDS) == [f.name for f in dataclasses.fields(ClaimConfig)]
    for key in CLAIM_FIELDS:
        assert f"#   {key} " in text


@pytest.mark.parametrize("name", ["../escape", "Has-Dash", "1st", ""])
def test_a_bad_name_is_refused_and_nothing_is_written(name, tmp_path):
    with pytest.raises(ScaffoldError, match="lower-case letters"):
        new_experiment(name, tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_existing_experiment_is_never_overwritten(tmp_path):
    (tmp_path / "taken.yaml").write_text("mine\n")
    with pytest.raises(ScaffoldError, match="exists"):
        new_experiment("taken", tmp_path)
    assert (tmp_path / "taken.yaml").read_text() == "mine\n"


@pytest.mark.slow
def test_a_new_experiment_trains_as_written_and_its_claims_pass_the_checks(tmp_path):
    conf = tmp_path / "conf"
    made = bnrepro("new-experiment", "my_question", "--dir", str(conf / "experiment"), cwd=tmp_path, check=True)
    assert "bnrepro train +experiment=my_question" in made.stdout
    again = bnrepro("new-experiment", "my_question", "--dir", str(conf / "experiment"), cwd=tmp_path)
    assert again.returncode == 1 and "exists" in again.stderr and "Traceback" not in again.stderr
    bnrepro(
        "train",
        f"hydra.searchpath=[file://{conf}]",
        "+experiment=my_question",
        "data=synthetic",
        "device=cpu",
        "train.steps=3",
        "train.log_every=1",
        "train.eval_every=3",
        "probes.hist_every=0",
        "train.progress=false",
        "seed=1",
        f"out_dir={tmp_path / 'runs'}",
        cwd=tmp_path,
        check=True,
    )
    summaries = sorted((tmp_path / "runs" / "my_question").glob("*/*/summary.json"))
    assert len(summaries) == 2  # model.bn none and pre, one seed


def test_the_commented_arms_block_declares_valid_arms(tmp_path):
    import yaml

    from bnrepro.launch.declared_arms import check_keys, declared

    text = new_experiment("my_question", tmp_path).read_text()
    block = [line.replace("#   - ", "  - ") for line in text.splitlines() if line.startswith("    #   - {")]
    arms = declared(yaml.safe_load("\n".join(block)), ["seed"])
    assert [arm.overrides for arm in arms] == [("model.bn=none",), ("model.bn=pre",), ("model.bn=pre", "norm=paper")]
    check_keys(arms, {"norm"})
