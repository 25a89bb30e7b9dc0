"""docs/guide.md works as written: its files are written and its commands run, in order
(each `bnrepro train` a few steps on synthetic data, into a temporary folder)."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from conftest import REPO, bnrepro

FAST = [
    "data=synthetic",
    "device=cpu",
    "train.steps=4",
    "train.log_every=2",
    "train.eval_every=2",
    "probes.hist_every=0",
    "train.progress=false",
]


def guide_steps() -> list[tuple[str, str]]:
    """("file", "PATH\\nTEXT") for each yaml block naming its file, ("run", LINE) for each command."""
    text = (REPO / "docs" / "guide.md").read_text()
    steps = []
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S):
        if lang == "yaml" and body.startswith("# file: "):
            path, _, rest = body.partition("\n")
            steps.append(("file", path.removeprefix("# file: ") + "\n" + rest))
        elif lang == "bash":
            steps += [("run", line) for line in body.splitlines() if line.startswith("bnrepro ")]
    return steps


def fast(args: list[str], conf, runs) -> list[str]:
    """The guide's command, run on the temporary conf/ and runs/, a few steps on synthetic data."""
    if args[0] == "new-experiment":
        return [*args, "--dir", str(conf / "experiment")]
    if args[0] == "train":
        keys = {a.partition("=")[0] for a in FAST}
        kept = [a for a in args if a.partition("=")[0] not in keys]
        return [*kept, f"hydra.searchpath=[file://{conf}]", *FAST, f"out_dir={runs}"]
    if args[0] == "table":
        sweeps = sorted(runs.glob(args[1].removeprefix("runs/").replace("<time>", "*")))
        return [args[0], str(sweeps[-1]), *args[2:]]
    raise AssertionError(f"the guide runs {args}: teach this test how to run it fast")


@pytest.mark.slow
def test_the_guides_files_and_commands_work_in_order(tmp_path):
    steps = guide_steps()
    assert [kind for kind, _ in steps].count("run") >= 4
    conf, runs = tmp_path / "conf", tmp_path / "runs"
    for kind, step in steps:
        if kind == "file":
            path, _, text = step.partition("\n")
            (conf / path.removeprefix("conf/")).parent.mkdir(parents=True, exist_ok=True)
            (conf / path.removeprefix("conf/")).write_text(text)
        else:
            bnrepro(*fast(shlex.split(step)[1:], conf, runs), cwd=tmp_path, check=True)
    (sweep,) = [p for p in sorted((runs / "bn_momentum").iterdir()) if len(list(p.glob("*/summary.json"))) == 6]
    # its declared arms, each with every seed, named by the arm's own keys
    assert {p.parent.name for p in sweep.glob("*/summary.json")} == {
        f"norm={norm}_seed={seed}" for norm in ("torch", "torch_slow") for seed in (1, 2, 3)
    }
    claims = json.loads((sweep / "tables" / "bn_momentum.claims.json").read_text())["claims"]
    assert len(claims) == 3
    for claim in claims:  # judged on the arms it names (a few steps decide nothing: any verdict)
        assert claim["n"] == [3, 3] if claim["than"] else claim["n"] == [3], claim["evidence"]
    question = claims[2]  # two-sided with no side expected: a neutral answer, by the arms' labels
    assert question["answers"] == ["momentum=0.01 higher", "momentum=0.1 higher"], question["answers"]
    assert question["verdict"] in [*question["answers"], "no difference detected"] and question["expected"] is None
    # section 6's arms, and a no-BN arm: it keeps momentum 0.1, so the claim comparing with 0.1
    # would pool two arms, refused before any run
    (arms,) = re.findall(r"```yaml\n(    arms:\n.*?)```", (REPO / "docs" / "guide.md").read_text(), flags=re.S)
    experiment = conf / "experiment" / "bn_momentum.yaml"
    no_bn = arms + "      - {model.bn: none}\n"
    text = re.sub(r"    arms:.*?\n(?=    params:)", no_bn, experiment.read_text(), flags=re.S)
    experiment.write_text(text)
    sweeps = set((runs / "bn_momentum").iterdir())
    refused = bnrepro(*fast(["train", "+experiment=bn_momentum"], conf, runs), cwd=tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "slow running averages (momentum 0.01) give a lower" in refused.stderr and "pools" in refused.stderr
    assert "arm 3 (norm=torch model.norm.momentum=0.5); arm 4 (model.bn=none)" in refused.stderr
    assert set((runs / "bn_momentum").iterdir()) == sweeps
