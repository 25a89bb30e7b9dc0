"""`bnrepro resume` of a whole sweep, in process: membership from the pack files and confined
to the sweep, one bad group never stops the others, a held lock is refused, a broken group
can be started over."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from bnrepro import cli
from bnrepro.launch.resume import ResumeIncomplete, resume_sweep, sweep_groups
from bnrepro.launch.sweep import form_packs, groups
from bnrepro.run import lock, loop, provenance
from bnrepro.run.loop import Interrupted, train_runs

from conftest import tiny

quiet = dict(log=lambda message: None)


def status(run_dir) -> str:
    return json.loads((run_dir / "summary.json").read_text())["status"]


def planned_sweep(tmp_path, seeds=(1, 2, 3)):
    """A sweep as the sweeper leaves it before training: two packs (bn none, bn pre) of
    len(seeds) runs each, every run `pending`."""
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    jobs = [[f"model.bn={bn}", f"seed={seed}"] for bn in ("none", "pre") for seed in seeds]
    configs = [tiny(model__bn=bn, seed=seed) for bn in ("none", "pre") for seed in seeds]
    packs = form_packs(configs, jobs, sweep, groups(configs, batch=True, max_runs=64))
    return sweep, [[sweep / name for name in pack.names] for pack in packs]


@pytest.mark.slow
def test_a_pending_sweep_resumes_every_pack(tmp_path):
    sweep, packs = planned_sweep(tmp_path)
    groups, runs = sweep_groups(sweep)
    assert [g.dirs for g in groups] == packs and len(runs) == 6
    messages = []
    resume_sweep(sweep, log=messages.append)
    assert "resuming 6 of 6 runs in 2 group(s)" in messages[0]
    assert {status(d) for pack in packs for d in pack} == {"completed"}


def test_a_summary_naming_a_group_outside_the_sweep_is_refused_and_the_victim_untouched(tmp_path):
    sweep = tmp_path / "sweep"
    train_runs([tiny(seed=1)], [sweep / "run"], **quiet)
    victim = tmp_path / "victim"  # a directory a run could train in: it has a config.yaml
    victim.mkdir()
    (victim / "events.out.tfevents.1").write_text("precious")
    (victim / "config.yaml").write_text((sweep / "run" / "config.yaml").read_text())
    summary = json.loads((sweep / "run" / "summary.json").read_text())
    (sweep / "run" / "summary.json").write_text(
        json.dumps({**summary, "status": "interrupted", "group": ["../victim"]})
    )
    with pytest.raises(ResumeIncomplete, match=r"\.\./victim.*not a run directory inside"):
        resume_sweep(sweep, **quiet)
    assert (victim / "events.out.tfevents.1").read_text() == "precious"  # the old resume trained there, wiping it
    assert sorted(p.name for p in victim.iterdir()) == ["config.yaml", "events.out.tfevents.1"]


@pytest.mark.parametrize("name", ["../victim", "link"])
def test_a_pack_file_naming_a_directory_outside_the_sweep_trains_nothing_there(tmp_path, name):
    sweep, packs = planned_sweep(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "config.yaml").write_text((packs[0][0] / "config.yaml").read_text())
    (sweep / "link").symlink_to(victim)  # inside the sweep by name, outside once resolved
    pack_file = sweep / ".packs" / "0" / "pack.json"
    plain = json.loads(pack_file.read_text())
    plain["runs"][0]["name"] = name
    pack_file.write_text(json.dumps(plain))
    with pytest.raises(ResumeIncomplete) as refused:
        resume_sweep(sweep, **quiet)
    assert f"'{name}': not a run directory inside" in str(refused.value)
    assert sorted(p.name for p in victim.iterdir()) == ["config.yaml"]  # nothing trained there
    assert {status(d) for d in packs[1]} == {"completed"}  # the healthy pack ran
    from bnrepro.launch.sweep import train_pack

    with pytest.raises(ValueError, match="not a run directory inside"):
        train_pack(pack_file.parent, sweep)  # a launcher's job reads the same file: refused too


def test_broken_groups_are_reported_and_the_healthy_ones_resume_then_restart_group_starts_one_over(tmp_path):
    sweep, (first, second) = planned_sweep(tmp_path, seeds=(1, 2))
    third_sweep_run = first[1]
    (third_sweep_run / "summary.json").write_text("")  # an empty summary: membership still from the pack
    checkpoint = first[0] / "checkpoint.pt"
    checkpoint.write_bytes(b"PK\x03\x04 truncated")  # a checkpoint cut short
    messages = []
    with pytest.raises(ResumeIncomplete, match=r"1 problem\(s\), 1 other group\(s\) resumed") as refused:
        resume_sweep(sweep, log=messages.append)
    assert "resuming 4 of 4 runs in 2 group(s)" in messages[0]
    assert "not a readable bnrepro checkpoint" in str(refused.value)
    assert {status(d) for d in second} == {"completed"}  # the pending pack after the broken one ran
    assert checkpoint.read_bytes().startswith(b"PK\x03\x04 truncated")  # left for a look

    assert cli.main(["resume", str(sweep)]) == 1  # the command: the reason, exit status 1
    assert cli.main(["resume", str(sweep), "--restart-group", "no_such_run"]) == 1
    assert cli.main(["resume", str(sweep), "--restart-group", first[0].name]) == 0
    assert {status(d) for d in first} == {"completed"} and not checkpoint.exists()
    assert cli.main(["resume", str(sweep)]) == 0  # nothing left


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_a_group_whose_lock_is_held_is_skipped_as_busy_naming_the_holder_and_the_others_go_on(tmp_path):
    from bnrepro.launch.outcomes import BUSY_EXIT, SweepNotFinished

    sweep, (first, second) = planned_sweep(tmp_path, seeds=(1,))
    with lock.GroupLock(first[0]):  # another process trains it (a lock is per open file, so this counts)
        with pytest.raises(
            SweepNotFinished, match=f"skipped, busy \\(try later\\): .*being trained by pid {os.getpid()} on host"
        ) as busy:
            resume_sweep(sweep, **quiet)
        assert busy.value.code == BUSY_EXIT and "restart-group" not in str(busy.value)
        assert status(first[0]) == "pending"  # untouched
        assert status(second[0]) == "completed"
    resume_sweep(sweep, **quiet)
    assert status(first[0]) == "completed"


def test_resume_refuses_other_codes_checkpoint_takes_another_commits_with_the_same_code_and_records_both(
    tmp_path, monkeypatch, capsys
):
    sweep, (pack, _) = planned_sweep(tmp_path, seeds=(1,))
    monkeypatch.setenv("BNREPRO_COMMIT", "a" * 40)
    monkeypatch.setenv("BNREPRO_DIRTY", "0")
    real_step, calls = loop.train_step, []

    def stop_at_12(state, probe):
        calls.append(1)
        if len(calls) == 12:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(state, probe)

    monkeypatch.setattr(loop, "train_step", stop_at_12)
    with pytest.raises(Interrupted):
        resume_sweep(sweep, **quiet)
    monkeypatch.setattr(loop, "train_step", real_step)
    assert torch.load(pack[0] / "checkpoint.pt", weights_only=True)["identity"]["commit"] == "a" * 40
    monkeypatch.setenv("BNREPRO_COMMIT", "b" * 40)
    with monkeypatch.context() as other:
        other.setattr(provenance, "code_hash", lambda: "c" * 64)  # a commit that changed the package
        assert cli.main(["resume", str(sweep)]) == 1  # refused: the message names --allow-other-code
    assert "--allow-other-code" in capsys.readouterr().err and status(pack[0]) == "interrupted"
    assert cli.main(["resume", str(sweep)]) == 0  # a commit of docs or tests only: the code hashes the same
    assert "another commit, the same code" in capsys.readouterr().err
    summary = json.loads((pack[0] / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["commit"] == "b" * 40
    first, second = summary["attempts"]
    assert (first["commit"], first["steps_to"], first["ended_as"], first["signal"]) == (
        "a" * 40,
        12,
        "interrupted",
        "SIGTERM",
    )
    assert (second["commit"], second["steps_from"], second["ended_as"], second["dirty"]) == (
        "b" * 40,
        12,
        "finished",
        False,
    )
