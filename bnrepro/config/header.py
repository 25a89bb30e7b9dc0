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


def missing_fields(text: str) -> list[str]:
    """The enforced fields an experiment file's opening comment does not mention."""
    header = "\n".join(line for line in text.splitlines() if line.startswith("#")).lower()
    return [f.label for f in HEADER_FIELDS if f.enforced and not any(word in header for word in f.words)]
