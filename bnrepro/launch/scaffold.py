"""`bnrepro new-experiment NAME`: a new experiment file to fill in, conf/experiment/NAME.yaml.

It opens with every header field (config/header.py, the list the tests enforce on each
file) and ends with one claim that already passes the sweep's claim checks, above a
comment listing every claim field (the ClaimConfig dataclass) with its meaning, so a
researcher never has to read the schema to write a claim; its sweep is a grid, with the
same arms declared one by one (hydra.sweeper.arms) in a comment below it.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..config.header import HEADER_FIELDS

# Every field of ClaimConfig, in its order (tests/test_scaffold.py: no field left out).
CLAIM_FIELDS = {
    "text": "the claim in one sentence: the row's title in the report",
    "source": "where the paper (or a later paper) makes it",
    "metric": "what is compared: a summary value (test_acc_final, test_acc_best, best_step), a logged tag "
    "(its final value; tag:first, tag:median, tag:change), or diverged / at_chance (counts)",
    "where": "the arm the claim is about: key=value[,key=value] selecting one configuration of the sweep",
    "op": "'>', '<', '=' (within tol) or '!=': where's metric <op> factor x the other side "
    "(a two_sided question: the side a source expected, or null for none)",
    "than": "the other arm (key=value[,...]); leave it out to compare with `value`",
    "than_metric": "compare with another metric (of `than`, or of `where` itself)",
    "value": "a fixed number to compare with, instead of another arm",
    "factor": "multiplies the other side (e.g. 2: 'twice as high'); default 1",
    "tol": "'=' / '!=': relative tolerance (default 0.01)",
    "paired": "the arms share seeds and the claim holds seed by seed: judged on per-seed differences",
    "tol_abs": "'=' / '!=': absolute tolerance, instead of tol x |target|",
    "check": "a verification that cannot fail (an identity): shown, never counted as a reproduction",
    "two_sided": "a neutral question, one two-sided test: answered 'A higher', 'B higher' or 'no difference "
    "detected', counted apart from reproductions",
    "better": "'higher' or 'lower': which values are better, so a diverged run counts as the worst",
    "at_chance_counts": "a mechanism metric still counts in a run that stays at chance",
    "ranked": "true: judge `>`/`<` by a rank test (paired: a sign test) even when every value is finite "
    "(per-run monotone claims, skewed differences)",
    "paper": "the published number for the same quantity, printed beside the measured one",
    "paper_source": "where the published number is from",
    "underpowered": "why the claim is under-powered by design (its seeds do not fit the budget: docs/budget.md); "
    "it is still judged and counted apart",
}

NAME = re.compile(r"[a-z][a-z0-9_]*")

TEMPLATE = """\
# @package _global_
# {name}: <the question, in one line>.
#
{header}
defaults:
  - override /data: mnist
  - override /model: mlp

name: {name}
model:
  depth: 3
  width: 100
train:
  steps: 1000
report:
  claims:
{claim_fields}
    - text: "BN gives a higher final test accuracy than no BN"
      source: "<paper, section>"
      metric: test_acc_final
      where: model.bn=pre
      op: ">"
      than: model.bn=none

hydra:
  sweeper:
    params:
      model.bn: none,pre   # the arms: every claim's where/than must select one of them
      seed: 1,2,3
    # Or list the arms, each the overrides that make it, crossed with params only (take
    # model.bn out of params then): no useless grid cells, and a new variant is one more
    # line; run names and claims address an arm by its keys (docs/sweeps.md, "Declared arms":
    # with the third arm, the claim's model.bn=pre selects two: add model.norm.kind=torch to it).
    # arms:
    #   - {{model.bn: none}}
    #   - {{model.bn: pre}}
    #   - {{model.bn: pre, norm: paper}}   # a variant: the paper's BN (conf/norm/paper.yaml)
"""


class ScaffoldError(ValueError):
    pass


def header_lines(name: str) -> list[str]:
    hints = {
        "Command": f"bnrepro train +experiment={name}",
        "Design": "model.bn in {none, pre} x seed in {1, 2, 3}: 6 runs; MNIST, MLP 3x100, 1,000 steps",
        "Suite": "cpu",
    }
    return [f"# {f.label}: {hints.get(f.label, '<' + f.meaning + '>')}" for f in HEADER_FIELDS]


def claim_field_lines() -> list[str]:
    width = max(map(len, CLAIM_FIELDS))
    return ["    # Claim fields (bnrepro/config/schema.py, ClaimConfig):"] + [
        f"    #   {key.ljust(width)}  {meaning}" for key, meaning in CLAIM_FIELDS.items()
    ]


def render(name: str) -> str:
    return TEMPLATE.format(name=name, header="\n".join(header_lines(name)), claim_fields="\n".join(claim_field_lines()))


def new_experiment(name: str, experiment_dir: Path) -> Path:
    """Write experiment_dir/NAME.yaml; refuse a bad or taken name, leaving nothing behind."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            f"experiment name {name!r}: use lower-case letters, digits and _, starting with a "
            "letter (it names conf/experiment/NAME.yaml, runs/NAME/ and results/NAME.md)"
        )
    path = experiment_dir / f"{name}.yaml"
    experiment_dir.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x") as out:  # exclusive: never overwrite someone's experiment
            out.write(render(name))
    except FileExistsError:
        raise ScaffoldError(f"{path} exists: pick another name (or edit that file)") from None
    return path
