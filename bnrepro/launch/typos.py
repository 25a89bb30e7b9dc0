"""A mistyped key on the command line, caught before Hydra: `model.bnn=pre` answers
"did you mean model.bn?" in one line. (Hydra's own answer is "use +model.bnn=pre", which
then fails with a long traceback: the schema has no such key.)

Only keys the schema decides are checked: dotted keys outside `hydra.` (the sections of
bnrepro/config/schema.py's Config, and model.norm.* of any norm's dataclass) and plain
top-level overrides (a Config field or a config group in conf/). `+group=option` of a
group on another search path and anything Hydra-specific go to Hydra unchanged.
"""

from __future__ import annotations

import dataclasses
import typing
from functools import lru_cache

from ..config.nearest import nearest


def _keys(cls, prefix: str = "") -> list[str]:
    """Every key of a dataclass, dotted; a list's or dict's key ends with '.' (its items
    are addressed below it: report.claims.0.op)."""
    keys = []
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        inner = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]  # Optional[dataclass]
        node = hint if dataclasses.is_dataclass(hint) else (inner[0] if inner else None)
        container = typing.get_origin(hint) in (list, dict)
        keys.append(prefix + f.name + ("." if container else ""))
        if node is not None:
            keys += _keys(node, f"{prefix}{f.name}.")
    return keys


@lru_cache(maxsize=1)
def schema_keys() -> frozenset[str]:
    from ..config import NORMS, Config

    norm_keys = {f"model.norm.{key}" for spec in NORMS.values() for key in _keys(spec.options)}
    return frozenset(_keys(Config)) | norm_keys


def unknown_key(args: list[str], groups: set[str]) -> str | None:
    """The message for the first override whose key the schema does not have, with the
    closest keys it does have; None when every key is known (or not ours to judge)."""
    known = {key.rstrip(".") for key in schema_keys()} | groups
    containers = tuple(key for key in schema_keys() if key.endswith("."))
    for arg in args:
        key, sep, _ = arg.partition("=")
        appended = key.startswith("+")
        key = key.lstrip("+~")
        if not sep or key.startswith("hydra") or "/" in key or (appended and "." not in key):
            continue
        if key in known or key.startswith(containers):
            continue
        # 0.6, not 0.5: keys share their section's prefix, and at 0.5 'data.xyzzy' would suggest
        # every short data.* key on the prefix alone
        close = nearest(key, sorted(known), cutoff=0.6)
        hint = (
            f"; did you mean {close[0]}?" + (f" (or {', '.join(close[1:])})" if close[1:] else "")
            if close
            else " (bnrepro train --help lists the keys)"
        )
        return f"no config key {key!r} (in {arg}){hint}"
    return None
