"""How a config key is declared: its type and default (the dataclass field), its help text
and its allowed range, once.

    lr: float = key(0.1, "the learning rate", above(0))

The range is checked by checks.py before any run exists (the error names the key and the
range's words); the help text is what `bnrepro train --help` and docs/config.md show.
A range is a test and the words that say it ("must be > 0"); a check that relates two
keys (a batch size that a group must divide) stays code in checks.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class Range:
    """The values a key allows: `ok(value)`, and `text`, the words an error and the docs show."""

    ok: Callable[[Any], bool]
    text: str


def at_least(low) -> Range:
    return Range(lambda v: v >= low, f"must be >= {low}")


def above(low) -> Range:
    return Range(lambda v: v > low, f"must be > {low}")


def within(low, high, brackets: str = "[]") -> Range:
    """low .. high; brackets "[)" etc. say which ends are allowed."""
    closed_low, closed_high = brackets[0] == "[", brackets[1] == "]"
    return Range(
        lambda v: (v >= low if closed_low else v > low) and (v <= high if closed_high else v < high),
        f"must be in {brackets[0]}{low}, {high}{brackets[1]}",
    )


def below(high) -> Range:
    return Range(lambda v: v < high, f"must be < {high}")


def odd(low: int = 1) -> Range:
    return Range(lambda v: v >= low and v % 2 == 1, f"must be an odd number >= {low}")


def or_null(inner: Range) -> Range:
    """null, or a value `inner` allows."""
    return Range(lambda v: v is None or inner.ok(v), inner.text.replace("must be ", "must be null or ", 1))


def each(inner: Range) -> Range:
    """A list whose every entry `inner` allows."""
    return Range(lambda v: all(inner.ok(x) for x in v), inner.text.replace("must be", "entries must be", 1))


def with_note(inner: Range, note: str) -> Range:
    """The same range, its words followed by ` (note)`: what the bound means."""
    return Range(inner.ok, f"{inner.text} ({note})")


def key(
    default: Any = MISSING, help: str = "", range: Range | None = None, *, factory: Callable[[], Any] | None = None
) -> Any:
    """A dataclass field with its help text and allowed range (factory: a list's default)."""
    metadata = {"help": help, "range": range}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def help_of(f: dataclasses.Field) -> str:
    return f.metadata.get("help", "")


def range_of(f: dataclasses.Field) -> Range | None:
    return f.metadata.get("range")


def is_plain_name(name: str) -> bool:
    """A name that stays one directory level: runs/<name>/ and results/<name>.md never escape."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0") and ".." not in name
