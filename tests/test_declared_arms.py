"""Declared arms (hydra.sweeper.arms): each arm crossed with the axes only, named by its own
keys, chosen from the command line by a value; a malformed list, or a claim that selects no
arm, refused with a message that names the arms."""

from __future__ import annotations

import pytest

from bnrepro.config import ClaimConfig, flatten, to_plain
from bnrepro.launch.declared_arms import ArmsError, arm_jobs, check_keys, declared, describe, keys, select
from bnrepro.launch.hydra_internals import grid
from bnrepro.launch.runnames import run_names
from bnrepro.launch.sweep import InvalidJob, check_experiment_claims

from conftest import tiny

ARMS = [{"model.bn": "none"}, {"model.bn": "pre", "norm": "torch"}, {"model.bn": "pre", "norm": "paper"}]


def names(arms, jobs):
    seeds = [int(next(o for o in job if o.startswith("seed=")).partition("=")[2]) for job in jobs]
    return run_names(jobs, seeds, list(flatten(to_plain(tiny()))), keys(arms))


def test_each_arm_is_crossed_with_the_axes_only_and_named_by_its_own_keys():
    arms = declared(ARMS, ["seed"])
    jobs = arm_jobs(arms, ["seed=1,2"], ["+experiment=x", "train.steps=100"], grid)
    assert jobs[:2] == [
        ["model.bn=none", "seed=1", "+experiment=x", "train.steps=100"],
        ["model.bn=none", "seed=2", "+experiment=x", "train.steps=100"],
    ]
    assert len(jobs) == 6 and ["model.bn=pre", "norm=paper", "seed=2", "+experiment=x", "train.steps=100"] in jobs
    assert names(arms, jobs) == [
        "bn=none_seed=1",
        "bn=none_seed=2",
        "bn=pre_norm=torch_seed=1",
        "bn=pre_norm=torch_seed=2",
        "bn=pre_norm=paper_seed=1",
        "bn=pre_norm=paper_seed=2",
    ]
    # a new arm adds its runs and renames none of the others
    more = declared([*ARMS, {"model.bn": "post", "model.depth": 4}], ["seed"])
    grown = names(more, arm_jobs(more, ["seed=1,2"], [], grid))
    assert grown[:6] == names(arms, jobs) and grown[6:] == ["bn=post_depth=4_seed=1", "bn=post_depth=4_seed=2"]


def test_one_value_on_the_command_line_picks_the_arms_that_declare_it():
    arms = declared(ARMS)
    assert select(arms, ["model.bn=pre", "seed=3"]) == (arms[1:], ["seed=3"])
    assert select(arms, ["norm=paper"])[0] == arms[2:]
    with pytest.raises(ArmsError, match=r"model.bn=post: no declared arm .* arm 1 \(model.bn=none\); arm 2"):
        select(arms, ["model.bn=post"])
    with pytest.raises(ArmsError, match=r"model.bn=none,pre: the experiment's arms .* set model.bn, so sweeping it"):
        select(arms, ["model.bn=none,pre"])


@pytest.mark.parametrize(
    "raw, params, message",
    [
        ([], (), "non-empty list"),
        (["model.bn=pre"], (), r"arm 1: 'model.bn=pre' is not a mapping"),
        ([{"model.bn": "none,pre"}], (), r"arm 1: model.bn=none,pre is a sweep"),
        ([{"model.norm.eps": 1e-5}, {"model.norm.eps": "1e-05"}], (), r"arm 2 is arm 1 again"),
        ([{"model.bn": "pre"}, {"+model.bn": "pre", "model.bn": "none"}], (), "arm 2: .* sets a key twice"),
        ([{"model.bn": "pre"}], ("model.bn", "seed"), "arm 1 sets model.bn, which hydra.sweeper.params also sweeps"),
    ],
)
def test_a_malformed_arms_list_is_refused_naming_the_arm(raw, params, message):
    with pytest.raises(ArmsError, match=message):
        declared(raw, params)


def test_a_mistyped_key_in_an_arm_is_named_with_the_closest_real_one():
    check_keys(declared(ARMS), {"norm"})
    typo = r"arm 2: no config key 'model.bnn' \(in model.bnn=pre\); did you mean model.bn\?"
    with pytest.raises(ArmsError, match=typo):
        check_keys(declared([{"model.bn": "none"}, {"model.bnn": "pre"}]), {"norm"})


def test_a_claim_that_selects_no_declared_arm_is_refused_naming_the_claim_and_the_arms():
    claim = ClaimConfig(
        text="post beats none", metric="test_acc_final", where="model.bn=post", op=">", than="model.bn=none"
    )
    configs = [tiny(model__bn=bn, report__claims=[vars(claim)]) for bn in ("none", "pre")]
    arms = declared([{"model.bn": "none"}, {"model.bn": "pre"}])
    with pytest.raises(InvalidJob) as refused:
        check_experiment_claims(configs, describe(arms))
    message = str(refused.value)
    assert "'post beats none'" in message and "where='model.bn=post' selects no run" in message
    assert "arm 1 (model.bn=none); arm 2 (model.bn=pre)" in message
