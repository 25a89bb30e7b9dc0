"""A claim's arms: which runs a condition "key=value[,key=value]" selects, and whether
that is one configuration.

A claim never pools configurations: every run an arm selects must share its whole
configuration, seed aside. `spread_keys` names the keys in which an arm's runs still
differ. The report judges a claim once per combination of those keys; the sweeper
refuses an experiment file whose own sweep leaves them (`check_claims`).
"""

from __future__ import annotations

from .checks import ConfigError
from .schema import WHERE_KEYS

# Keys that differ between runs without making them different configurations.
NOT_CONFIG = ("seed", *WHERE_KEYS)


def condition(text: str) -> dict[str, str]:
    """'model.bn=pre, seed=1' -> {'model.bn': 'pre', 'seed': '1'}."""
    parts = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"claim condition {part!r}: expected key=value")
        parts[key.strip()] = value.strip()
    return parts


def same(stored, wanted: str) -> bool:
    """A config value against a condition's text: numbers as numbers (10 == 10.0)."""
    try:
        return float(stored) == float(wanted)
    except (TypeError, ValueError):
        return str(stored).lower() == wanted.lower()


def matches(flat: dict, cond: dict[str, str]) -> bool:
    missing = [key for key in cond if key not in flat]
    if missing:
        raise ConfigError(f"claim condition: no config key {missing[0]!r}")
    return all(same(flat[key], value) for key, value in cond.items())


def arms(claim) -> list[dict[str, str]]:
    """The conditions of a claim's arms: `where`, and `than` when it names another arm."""
    get = claim.get if isinstance(claim, dict) else lambda key: getattr(claim, key)
    found = [condition(get("where"))]
    if get("than"):
        found.append(condition(get("than")))
    return found


def configuration(flat: dict) -> dict:
    """What makes a run's configuration: every key but the seed, where it ran and the report."""
    return {k: v for k, v in flat.items() if k not in NOT_CONFIG and not k.startswith("report.")}


def spread_keys(flats: list[dict], claim) -> list[str]:
    """Config keys whose values differ among the runs of one of the claim's arms."""
    keys: list[str] = []
    for cond in arms(claim):
        selected = [configuration(f) for f in flats if matches(f, cond)]
        for key in sorted({k for f in selected for k in f}):
            if len({str(f.get(key)) for f in selected}) > 1 and key not in keys:
                keys.append(key)
    return keys


def shared_runs(flats: list[dict], claim) -> int:
    """How many runs both of a claim's arms select (a run compared with itself)."""
    conditions = arms(claim)
    return sum(len(conditions) > 1 and all(matches(f, c) for c in conditions) for f in flats)


def check_claims(flats: list[dict], claims) -> None:
    """An experiment's own sweep must pin every claim to one configuration per arm, and its
    arms must not share runs."""
    for claim in claims:
        keys = spread_keys(flats, claim)
        text = claim["text"] if isinstance(claim, dict) else claim.text
        if shared_runs(flats, claim):
            raise ConfigError(
                f"claim {text!r}: its arms share runs (where and than both select them): a claim "
                f"compares two disjoint sets of runs"
            )
        if keys:
            raise ConfigError(
                f"claim {text!r} pools configurations: its arms leave {', '.join(keys)} "
                f"unpinned; name them in the claim's where/than"
            )
