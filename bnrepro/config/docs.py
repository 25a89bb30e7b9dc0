"""Every config key in words, from the schema's declarations (type, default, range, help):
docs/config.md (scripts/gen_docs.py) and the key list of `bnrepro train --help`."""

from __future__ import annotations

import dataclasses
import textwrap
import typing
from enum import Enum

from .keys import help_of, range_of
from .norms import NORMS
from .schema import Config

# Sections of the schema that the key table leaves to their own docs (claims: docs/verdicts.md;
# the paper table: report/paper_table.py).
NOT_LISTED = ("report.claims", "report.paper_table")


def _type_name(hint) -> str:
    """int, float, bool, str, list[int], 'a | b' for an enum, with '| null' when optional."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union:
        return f"{_type_name(args[0])} or null"
    if typing.get_origin(hint) in (list, typing.List):
        return f"list[{_type_name(args[0])}]"
    if isinstance(hint, type) and issubclass(hint, Enum):
        return " | ".join(m.value for m in hint)
    return getattr(hint, "__name__", str(hint))


def _shown(value) -> str:
    if isinstance(value, Enum):
        return value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def _default(f: dataclasses.Field):
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def keys(schema: type = Config, prefix: str = ""):
    """(key, type, default, range words, help) of every key under `schema`, in its order;
    nested dataclasses are walked, model.norm (the `norm` group) is left to norm_keys."""
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        key, hint = f"{prefix}{f.name}", hints[f.name]
        if key in NOT_LISTED or key == "model.norm":
            continue
        if dataclasses.is_dataclass(hint):
            yield from keys(hint, f"{key}.")
            continue
        allowed = range_of(f)
        yield key, _type_name(hint), _shown(_default(f)), allowed.text if allowed else "", help_of(f)


def norm_keys():
    """(layer name, its help, [its options as keys() rows]) of each registered norm layer."""
    for name, spec in NORMS.items():
        rows = [row for row in keys(spec.options, "model.norm.") if row[0] != "model.norm.kind"]
        stats = ", ".join(("moving", *spec.eval_stats)) if spec.layer is not None else ""
        yield name, spec.help + (f" (evaluation statistics: {stats})" if stats else ""), rows


def _cell(text: str) -> str:
    """Text as one markdown table cell: backslashes, pipes, '<' (an HTML tag otherwise) and '*'
    (emphasis) escaped."""
    for char in "\\|<*":
        text = text.replace(char, "\\" + char)
    return text


def _table(rows) -> list[str]:
    lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for key, kind, default, allowed, text in rows:
        kind, allowed, text = (_cell(cell.replace("must be ", "")) for cell in (kind, allowed, text))
        lines.append(f"| `{key}` | {kind} | `{default}` | {allowed} | {text} |")
    return lines


HEAD = """# Configuration keys

Every key of `bnrepro train key=value`, generated from the schema (`bnrepro/config/schema.py`;
each norm layer's options from its registration, `bnrepro/config/norms.py`) by
`scripts/gen_docs.py`; a test fails when this file is stale. `bnrepro train --help` lists
the same keys. A value outside "allowed" is refused before anything runs, with the key and
the range; checks that relate keys (a group that must divide the batch size, a conv net
deeper than its input allows) are in `bnrepro/config/checks.py`.
"""


def key_table() -> str:
    """docs/config.md."""
    lines = [
        HEAD,
        "## Keys",
        "",
        *_table(keys()),
        "",
        "## Normalization layers: `norm=NAME`",
        "",
        "`norm=NAME` picks conf/norm/NAME.yaml, whose `kind` is a registered layer (a yaml may set other "
        "defaults for its options: `renorm_1k`); `model.norm.KEY` sets one option. A claim or a table names "
        "the layer as `model.norm.kind`.",
        "",
    ]
    for name, text, rows in norm_keys():
        lines += [f"### `{name}`: {text}", ""]
        lines += [*_table(rows), ""] if rows else ["No options.", ""]
    return "\n".join(lines)


def key_list(width: int = 100) -> str:
    """The keys for `bnrepro train --help`: `key = default  (type, allowed)`, its help below."""
    lines = []
    for key, kind, default, allowed, text in keys():
        bound = f", {allowed.replace('must be ', '')}" if allowed else ""
        lines.append(f"{key} = {default}  ({kind}{bound})")
        lines += textwrap.wrap(text, width, initial_indent="    ", subsequent_indent="    ")
    lines.append(
        "model.norm: the layer norm=NAME picks (conf/norm/NAME.yaml), of the registered ones; "
        "their options' ranges and help: docs/config.md"
    )
    for name, text, rows in norm_keys():
        options = f"; options {', '.join(row[0].removeprefix('model.norm.') for row in rows)}" if rows else ""
        lines += textwrap.wrap(f"{name}: {text}{options}", width, initial_indent="    ", subsequent_indent="      ")
    return "\n".join(lines)
