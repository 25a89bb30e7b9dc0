"""Declared arms: an experiment's configurations listed one by one, not as a grid.

    hydra:
      sweeper:
        arms:                       # each arm: the overrides that make it
          - {model.bn: none}
          - {model.bn: pre, norm: torch}
          - {model.bn: pre, norm: paper}
        params:                     # the axes every arm is crossed with
          seed: 1,2,3

trains 3 arms x 3 seeds: no `model.bn=none x norm=paper` cell, and a new variant is one
more line. Each job's overrides are its arm's, then the axes', then the command line's
(Hydra's grid over the last two), so a run is named by its arm's keys as declared, then
the axes (launch/runnames.py: adding an arm renames no other arm's runs).

A key the arms set is not also an axis, and the command line does not sweep it (that
would cross every arm with it); one value of it on the command line picks the arms that
declare that value (`model.bn=pre`: arms 2 and 3), as a value replaces a grid's sweep
of its key. Claims still select runs by their conditions on the composed configs
(config/arms.py); the sweeper names the declared arms when a claim selects none, or pools two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ..config.arms import same


def _parse(overrides: Sequence[str]) -> list:
    """Hydra's Override objects (not through hydra_internals: `--cfg` reads arms before
    Hydra's plugin scan, which hydra_internals must come after)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(list(overrides))


SOURCE = "hydra.sweeper.arms"


class ArmsError(ValueError):
    """A malformed arms list, or a command line at odds with it."""


def _bare(key: str) -> str:
    return key.lstrip("+~")


def _value(value) -> str:
    """A YAML value as Hydra's override grammar writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class Arm:
    number: int  # as the file lists it, from 1
    overrides: tuple[str, ...]  # key=value, in the order declared

    @property
    def values(self) -> dict[str, str]:
        return {_bare(k): v for k, _, v in (o.partition("=") for o in self.overrides)}

    def __str__(self) -> str:
        return f"arm {self.number} ({' '.join(self.overrides)})"


def describe(arms: Sequence[Arm]) -> str:
    return "; ".join(map(str, arms))


def declared(raw, params: Sequence[str] = ()) -> list[Arm]:
    """The arms of `raw` (the hydra.sweeper.arms list), refused when malformed: not a list of
    key: value mappings, a value that is a sweep, the same arm twice, or a key that
    hydra.sweeper.params (`params`: its keys) also sweeps."""
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ArmsError(
            f"{SOURCE} must be a non-empty list of override sets, e.g. [{{model.bn: none}}, {{model.bn: pre}}]"
        )
    swept = {_bare(k) for k in params}
    arms: list[Arm] = []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not item:
            raise ArmsError(
                f"{SOURCE}, arm {number}: {item!r} is not a mapping of keys to values "
                "(write each arm as {key: value, ...}, e.g. {model.bn: pre, norm: paper})"
            )
        if any(isinstance(v, dict) for v in item.values()):
            raise ArmsError(
                f"{SOURCE}, arm {number}: {item!r}: a value is a mapping; use dotted keys (model.norm.eps: 1e-9)"
            )
        overrides = tuple(f"{key}={_value(value)}" for key, value in item.items())
        try:
            parsed = _parse(overrides)
        except Exception as e:  # Hydra's grammar: name the arm, not a parser state
            raise ArmsError(f"{SOURCE}, arm {number}: {item!r} is not a valid override set: {e}") from None
        for override, text in zip(parsed, overrides):
            if override.is_sweep_override():
                raise ArmsError(
                    f"{SOURCE}, arm {number}: {text} is a sweep; an arm sets one value per key "
                    "(list one arm per value, or sweep the key for every arm in hydra.sweeper.params)"
                )
        arm = Arm(number, tuple(o.input_line for o in parsed))
        keys = [_bare(k) for k in item]
        if len(set(keys)) < len(keys):
            raise ArmsError(f"{SOURCE}, arm {number}: {item!r} sets a key twice")
        both = [k for k in keys if k in swept]
        if both:
            raise ArmsError(
                f"{SOURCE}, arm {number} sets {both[0]}, which hydra.sweeper.params also sweeps: a key is "
                "either an arm's or an axis crossed with every arm; move its values into the arms or out of them"
            )
        twin = next((a for a in arms if _same_arm(a, arm)), None)
        if twin is not None:
            raise ArmsError(f"{SOURCE}: arm {number} is arm {twin.number} again ({' '.join(arm.overrides)})")
        arms.append(arm)
    return arms


def _same_arm(a: Arm, b: Arm) -> bool:
    va, vb = a.values, b.values
    return va.keys() == vb.keys() and all(same(va[k], vb[k]) for k in va)


def keys(arms: Sequence[Arm]) -> tuple[str, ...]:
    """Every key the arms set, as written, in order of first appearance."""
    found: list[str] = []
    for arm in arms:
        found += [o.partition("=")[0] for o in arm.overrides if o.partition("=")[0] not in found]
    return tuple(found)


def check_keys(arms: Sequence[Arm], groups: set[str]) -> None:
    """A key no config has is a typo: named with the closest real ones (launch/typos.py)."""
    from .typos import unknown_key

    for arm in arms:
        message = unknown_key(list(arm.overrides), groups)
        if message:
            raise ArmsError(f"{SOURCE}, arm {arm.number}: {message}")


def select(arms: Sequence[Arm], arguments: Sequence[str]) -> tuple[list[Arm], list[str]]:
    """The arms the command line keeps, and its other arguments. One value of a key the arms
    set keeps the arms that declare it; a sweep of such a key is refused."""
    declared_keys = {_bare(k) for k in keys(arms)}
    kept, rest = list(arms), []
    for override, text in zip(_parse(arguments), arguments):
        key = _bare(override.get_key_element())
        if key not in declared_keys:
            rest.append(text)
            continue
        if override.is_sweep_override():
            raise ArmsError(
                f"{text}: the experiment's arms ({SOURCE}) set {key}, so sweeping it would cross every arm with "
                f"it. One value runs the arms that declare it ({key}=VALUE); to compare other values, add arms "
                f"to the file. The arms: {describe(arms)}"
            )
        value = override.get_value_element_as_str()
        kept = [a for a in kept if key in a.values and same(a.values[key], value)]
        if not kept:
            raise ArmsError(
                f"{text}: no declared arm ({SOURCE}) has {key}={value}; the arms: {describe(arms)}. "
                "A new value is a new arm: add it to the experiment file"
            )
    return kept, rest


def arm_jobs(
    arms: Sequence[Arm], params: Sequence[str], arguments: Sequence[str], grid: Callable[[list[str]], list[list[str]]]
) -> list[list[str]]:
    """Every job: each arm the command line keeps, crossed with the grid of hydra.sweeper.params
    (`params`, as overrides) and the command line's other arguments."""
    kept, rest = select(arms, arguments)
    return [job for arm in kept for job in grid([*arm.overrides, *params, *rest])]
