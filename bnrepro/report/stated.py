"""What an experiment states now, beside what its runs recorded when they trained.

- The claims a table judges are the experiment file's as it is now
  (conf/experiment/<name>.yaml, composed as `bnrepro train +experiment=<name>` would);
  runs of an experiment with no such file (a user's own `name=`) are judged by the
  claims they recorded.
- A claim is pre-stated when every run recorded a claim with the same test (the fields
  in TEST_FIELDS: metric, arms, op, threshold, tolerances, pairing ...; the wording may
  differ); otherwise it is `post hoc`: stated or changed after the runs trained. Claims
  the runs recorded that the file no longer makes are named.
- The file's length (train.steps) and seeds are shown beside the runs' own.
- Claims the file removed after runs judged them (`report.dropped`: claim, last verdict,
  commit, reason) are carried to the claims report, so none is dropped in silence.
- reproduce.json (written by scripts/reproduce.sh beside the runs): the commit the runs
  trained at and the commit that last changed the experiment file, and any note on them.

Everything is read from files (the runs, reproduce.json, the experiment file), never from
git or the clock: the same files give the same table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from ..config import ClaimConfig, arms
from ..config.underpowered_here import apply_underpowered_here

TEST_FIELDS = (
    "metric",
    "where",
    "op",
    "than",
    "than_metric",
    "value",
    "factor",
    "tol",
    "tol_abs",
    "paired",
    "check",
    "two_sided",
    "better",
    "at_chance_counts",
    "ranked",
)
_FIELDS = {f.name for f in fields(ClaimConfig)}


def as_claim(claim: dict) -> ClaimConfig:
    """A claim as its one type, the schema's ClaimConfig: the fields it states, the schema's
    defaults for the rest (a claim a run recorded may predate a field). Defaults live only there."""
    return ClaimConfig(**{k: v for k, v in claim.items() if k in _FIELDS})


@dataclass
class Stated:
    claims: list[dict]  # the claims to judge
    source: str  # where they come from, in words
    post_hoc: list[bool] = field(default_factory=list)  # per claim
    dropped: list[str] = field(default_factory=list)  # recorded claims the file no longer makes (their text)
    removed: list[dict] = field(default_factory=list)  # the file's `report.dropped` entries
    file_steps: int | None = None
    file_seeds: str | None = None


def test_of(claim: dict) -> tuple:
    """What a claim tests, whatever its words: equal tuples are the same claim (numbers as
    numbers, conditions as their key=value pairs)."""
    typed = as_claim(claim)

    def plain(key):
        value = getattr(typed, key)
        if key in ("where", "than") and value:
            return tuple(sorted((k, number(v)) for k, v in arms.condition(value).items()))
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    def number(text: str):
        try:
            return float(text)
        except ValueError:
            return text.lower()

    return tuple(plain(key) for key in TEST_FIELDS)


def experiment_file(name: str) -> dict | None:
    """conf/experiment/<name>.yaml composed: {"claims", "dropped", "steps", "seeds"}; None if there is none."""
    from hydra import compose, initialize_config_dir

    from ..launch.app import conf_dir

    if not (conf_dir() / "experiment" / f"{name}.yaml").is_file():
        return None
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("train", overrides=[f"+experiment={name}"], return_hydra_config=True)
    from omegaconf import OmegaConf

    report = OmegaConf.to_container(cfg.report, resolve=True)
    claims = apply_underpowered_here(report, f"conf/experiment/{name}.yaml")
    dropped = report["dropped"]
    seeds = (cfg.hydra.sweeper.params or {}).get("seed")
    return {
        "claims": claims,
        "dropped": dropped,
        "steps": int(cfg.train.steps),
        "seeds": str(seeds) if seeds is not None else None,
    }


def claims_in_file(path: Path) -> list[dict]:
    """An experiment file's claims as written, without composing it (the report reads every
    file that has no runs, so it must be fast): its own report.claims, else those of the
    experiment it extends (`defaults: - NAME`), which composing would merge in; then the
    file's own report.underpowered_here marks, as composing applies them."""
    import yaml

    data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    report = data.get("report") or {}
    claims = report.get("claims")
    if claims is None:
        files = [path.parent / f"{item}.yaml" for item in data.get("defaults") or [] if isinstance(item, str)]
        parents = [f for f in files if f.is_file()]
        claims = claims_in_file(parents[0]) if parents else []
    return apply_underpowered_here({**report, "claims": claims}, str(path))


def recorded(group: pd.DataFrame) -> list[list[dict]]:
    """Each run's recorded claims."""
    column = "config.report.claims"
    return [json.loads(v) if isinstance(v, str) else [] for v in group.get(column, pd.Series([], dtype=object))]


def stated(name: str, group: pd.DataFrame) -> Stated:
    runs_claims = recorded(group)
    current = experiment_file(name)
    if current is None:
        claims = runs_claims[0] if runs_claims else []
        return Stated(claims, f"the claims the runs recorded (no conf/experiment/{name}.yaml)", [False] * len(claims))
    in_every = set.intersection(*[{test_of(c) for c in claims} for claims in runs_claims]) if runs_claims else set()
    now = {test_of(c) for c in current["claims"]}
    dropped = sorted({c["text"] for claims in runs_claims for c in claims if test_of(c) not in now})
    return Stated(
        current["claims"],
        f"conf/experiment/{name}.yaml as it is now",
        [test_of(c) not in in_every for c in current["claims"]],
        dropped,
        current["dropped"],
        current["steps"],
        current["seeds"],
    )


def regeneration(group: pd.DataFrame) -> dict:
    """reproduce.json beside the runs (their folder or the one above), or {} when none."""
    folders = {Path(p).parent for p in group["path"]} | {Path(p).parent.parent for p in group["path"]}
    for folder in sorted(folders):
        if (folder / "reproduce.json").is_file():
            return json.loads((folder / "reproduce.json").read_text())
    return {}
