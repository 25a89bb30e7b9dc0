"""What an experiment file's opening comment says: one list, written by `bnrepro
new-experiment` and enforced on every file in conf/experiment/ by tests/test_config.py.

Each field is a line `# Label: ...` of the header. `words` are what the check looks for
(lower-case, any one of them, anywhere in the comment): a field may be written in the
words the existing files use (their design is the `Sweep:` line). `enforced` is false for
the fields half of today's files predate (pilots: 12 of 24 files say nothing about them);
new files get every field. `Suite` is optional by design: a file without it is in the CPU
suite; when stated it must follow suite.py's grammar (the tests parse it in every file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class HeaderField:
    label: str
    meaning: str
    words: tuple[str, ...]
    enforced: bool = True


HEADER_FIELDS = (
    HeaderField("Claim", "the claim tested, and its source (paper, section or figure)", ("claim",)),
    HeaderField("Command", "the exact command that runs the experiment", ("command",)),
    HeaderField(
        "Design",
        "what is compared: the sweep's arms and what else is held fixed (data, model, steps)",
        ("design", "sweep"),
    ),
    HeaderField(
        "Seeds and power", "how many seeds per arm, and why that is enough to see the expected difference", ("seed",)
    ),
    HeaderField("Pilots", "short runs made to choose the settings, and what they showed", ("pilot",), enforced=False),
    HeaderField("Runtime", "wall time of the whole sweep on a CPU (and on a GPU)", ("runtime",)),
    HeaderField("Expected", "the outcome expected if the claim holds", ("expected",)),
    HeaderField(
        "Suite",
        "'cpu' (the default), 'out of the CPU suite: <reason>' or 'gpu only: <reason>': whether "
        "scripts/reproduce.sh with no names trains it (config/suite.py, docs/budget.md)",
        ("suite",),
        enforced=False,
    ),
)


_CONTINUED = re.compile(r"^#   +(\S.*)$")  # an indented comment line carries the field on


def carried_on(lines: list[str], first: int) -> list[str]:
    """The text of the indented comment lines after lines[first] that carry its header field on."""
    parts = []
    for line in lines[first + 1 :]:
        more = _CONTINUED.match(line)
        if not more:
            break
        parts.append(more.group(1).strip())
    return parts


def missing_fields(text: str) -> list[str]:
    """The enforced fields an experiment file's opening comment does not mention."""
    header = "\n".join(line for line in text.splitlines() if line.startswith("#")).lower()
    return [f.label for f in HEADER_FIELDS if f.enforced and not any(word in header for word in f.words)]


# The header fields that state the power an experiment's seeds were chosen for, as today's files
# name them, in the order one is preferred when a file has several (deep_linear: a `Pilot:` and a
# `Seeds, for 80% power ...`). A label ends at ':', ',' or ' (' (fig3: `Seeds and power (Holm ...):`).
POWER_LABELS = ("Seeds and power", "Pilot and power", "Seeds", "Pilot")
_FIELD = re.compile(r"^# ([A-Z][a-z]*(?: [a-z]+)*)(?::|,| \()")
# The figure the seeds were chosen for: "seeds per arm for 80% power" in every file that states one
_TARGET = re.compile(r"\bfor (\d+)% power\b")


@dataclass(frozen=True)
class StatedPower:
    label: str  # the header field that states it
    target: str | None  # '80%': the one power figure the field says its seeds are for; None: none or several


def stated_power(text: str) -> StatedPower | None:
    """The field of an experiment file's header that states its seeds' power, and the power they were
    chosen for where it names one figure ('for 80% power'); None when no field states it."""
    fields: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        label = _FIELD.match(line)
        if not label or label.group(1) in fields:
            continue
        fields[label.group(1)] = " ".join([line, *carried_on(lines, i)])
    label = next((name for name in POWER_LABELS if name in fields), None)
    if label is None:
        return None
    targets = set(_TARGET.findall(fields[label]))
    return StatedPower(label, f"{targets.pop()}%" if len(targets) == 1 else None)
