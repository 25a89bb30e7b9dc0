"""What `bnrepro train` says before it trains: tab completion of values, and `--cfg` of a sweep.

Both are answered from the schema and the experiment files, without composing a run
(and without torch): they must answer within a second on a small CPU.

- value_choices("model.bn=") -> ["model.bn=none", "model.bn=pre", "model.bn=post", ...]:
  Hydra's own completion offers only the current value, as `BNPlacement.none`;
- first_job(args): `--cfg` of a sweep (`model.bn=none,pre`, or an experiment that
  sweeps) shows the first job's config after a comment listing the swept keys; Hydra
  alone refuses comma lists with --cfg, and -m with it.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from enum import Enum
from pathlib import Path

from ..config import NORMS, Config


def _field_type(key: str):
    """The type of a dotted config key in the schema, or None if there is no such key."""
    node = Config
    for part in key.split("."):
        if not dataclasses.is_dataclass(node):
            return None
        hints = typing.get_type_hints(node)
        if part not in hints:
            return None
        node = hints[part]
        if typing.get_origin(node) is typing.Union:  # Optional[X] -> X
            node = next(a for a in typing.get_args(node) if a is not type(None))
    return node


def value_choices(word: str) -> list[str] | None:
    """Completions of `key=partial` when the key is an enum or a bool; None otherwise."""
    if "=" not in word:
        return None
    key, _, partial = word.partition("=")
    kind = _field_type(key.lstrip("+~"))
    if key.lstrip("+~") == "model.norm.kind":  # a str the norm registry checks, not an enum
        values = list(NORMS)
    elif isinstance(kind, type) and issubclass(kind, Enum):
        values = [member.value for member in kind]
    elif kind is bool:
        values = ["true", "false"]
    else:
        return None
    return [f"{key}={v}" for v in values if v.startswith(partial)]


def _read_yaml(path: Path) -> dict:
    """A config file's contents ({} when there is none)."""
    import yaml

    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def _sweeper(doc: dict) -> dict:
    return (doc.get("hydra") or {}).get("sweeper") or {}


def _experiment_sweep(name: str, profile: str | None = None) -> tuple[dict[str, list[str]], list | None]:
    """hydra.sweeper.params of conf/experiment/NAME.yaml, with those of its profile
    (conf/profile/PROFILE.yaml: `profile` if given, else the one the file's defaults name,
    which comes after the file's own settings): key -> its values; and its declared arms
    (hydra.sweeper.arms, the profile's if it has them), or None."""
    from .app import conf_dir

    path = conf_dir() / "experiment" / f"{name}.yaml"
    if not path.is_file():
        return {}, None
    doc = _read_yaml(path)
    if profile is None:
        profile = next(
            (
                str(entry["/profile"])
                for entry in doc.get("defaults") or []
                if isinstance(entry, dict) and "/profile" in entry
            ),
            None,
        )
    params, arms = dict(_sweeper(doc).get("params") or {}), _sweeper(doc).get("arms")
    if profile:
        sweeper = _sweeper(_read_yaml(conf_dir() / "profile" / f"{profile}.yaml"))
        params.update(sweeper.get("params") or {})
        arms = sweeper.get("arms", arms)
    return {key: [v.strip() for v in str(values).split(",")] for key, values in params.items()}, arms


def first_job(args: list[str]) -> tuple[list[str], str]:
    """The arguments for Hydra's `--cfg` on the sweep's first job, and a comment naming the sweep
    (declared_arms.ArmsError: the experiment's arms are malformed, or the command line is at odds with them)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from .declared_arms import declared, describe, select

    args = [a for a in args if a not in ("-m", "--multirun")]  # every bnrepro train is a sweep already
    flags, overrides, i = [], [], 0
    while i < len(args):
        if args[i].startswith("-"):
            takes_value = args[i] in (
                "--cfg",
                "-c",
                "--package",
                "-p",
                "--config-name",
                "-cn",
                "--config-dir",
                "-cd",
                "--config-path",
                "-cp",
            )
            flags += args[i : i + 1 + takes_value]
            i += 1 + takes_value
        else:
            overrides.append(args[i])
            i += 1
    parsed = OverridesParser.create().parse_overrides(overrides)
    swept: dict[str, list[str]] = {}
    arms: list = []
    profile = next((o.get_value_element_as_str() for o in parsed if o.key_or_group == "profile"), None)
    for override in parsed:
        if override.key_or_group == "experiment":
            params, raw = _experiment_sweep(override.get_value_element_as_str(), profile)
            swept.update(params)
            arms = declared(raw, list(params)) if raw else []
    if arms:  # the command line's value of an arm's key picks arms; the first kept one is shown
        arms, overrides = select(arms, overrides)
        parsed = OverridesParser.create().parse_overrides(overrides)
    first: list[str] = list(arms[0].overrides) if arms else []
    for override in parsed:  # a key on the command line replaces the experiment's sweep of it
        for key in [k for k in swept if k.lstrip("+~") == override.key_or_group]:
            swept.pop(key)  # `+fig3: ...` in the file, `+fig3=bn_x5` on the command line
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
            swept[override.key_or_group] = values
            first.append(f"{override.get_key_element()}={values[0]}")
        else:
            first.append(override.input_line)
    # The experiment's own sweep applies where the command line does not set the key.
    set_here = {o.partition("=")[0].lstrip("+~") for o in first}
    first += [f"{key}={values[0]}" for key, values in swept.items() if key not in set_here]
    if not swept and len(arms) < 2:
        return flags + first, "# one job"
    jobs = max(len(arms), 1) * math.prod(len(v) for v in swept.values())
    listed = "; ".join(f"{key}: {', '.join(values)}" for key, values in swept.items())
    if arms:
        listed = f"{len(arms)} arms ({describe(arms)})" + (f" x {listed}" if listed else "")
    return flags + first, f"# a sweep of {jobs} jobs over {listed}\n# the first job's config:"
