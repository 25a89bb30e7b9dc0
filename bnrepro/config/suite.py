"""Which experiments the CPU suite trains: each file's `# Suite:` header line (header.py).

The grammar, one of three forms (the line may continue on `#   ` lines below it):

    # Suite: cpu                                  in the CPU suite (also when the line is absent)
    # Suite: out of the CPU suite: <reason>       left out of `scripts/reproduce.sh` with no names
    # Suite: gpu only: <reason>                   left out too: it is meant for a GPU

A left-out experiment still trains when named (`scripts/reproduce.sh NAME`) and in
`--quick` (CI runs the whole pipeline). Who decides, and the rule for claims whose seeds the
budget cannot pay: docs/budget.md. The results index lists every left-out experiment with
its reason, and counts the claims of those without runs as not run (report/claims_report.py).

    python -m bnrepro.config.suite left-out DIR   NAME<TAB>form: reason, one line per left-out
                                                  experiment of DIR (conf/experiment/)

(`scripts/reproduce.sh --list` prints what it would train, and these with their reasons.)

Reads only the experiment files' text: no Hydra, no torch (scripts/reproduce.sh calls it).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .header import carried_on

CPU = "cpu"
# The forms that leave an experiment out, each followed by ": <reason>"
LEFT_OUT = ("out of the CPU suite", "gpu only")
GRAMMAR = f"'{CPU}', " + " or ".join(f"'{form}: <reason>'" for form in LEFT_OUT)

_LINE = re.compile(r"^# Suite:(.*)$")


class SuiteError(ValueError):
    pass


@dataclass(frozen=True)
class Membership:
    name: str
    form: str  # CPU, or one of LEFT_OUT
    reason: str = ""

    @property
    def in_cpu_suite(self) -> bool:
        return self.form == CPU

    def words(self) -> str:
        """'cpu', or 'out of the CPU suite: <reason>' as the file states it."""
        return self.form if self.in_cpu_suite else f"{self.form}: {self.reason}"


def membership(name: str, text: str) -> Membership:
    """An experiment file's suite membership from its header; a value outside the grammar is refused."""
    lines = text.splitlines()
    found = [i for i, line in enumerate(lines) if _LINE.match(line)]
    if not found:
        return Membership(name, CPU)
    if len(found) > 1:
        raise SuiteError(f"{name}.yaml: {len(found)} '# Suite:' lines; state it once ({GRAMMAR})")
    first = found[0]
    value = " ".join([_LINE.match(lines[first]).group(1).strip(), *carried_on(lines, first)])
    if value == CPU:
        return Membership(name, CPU)
    for form in LEFT_OUT:
        head, colon, reason = value.partition(":")
        if head.strip() == form and colon:
            if not reason.strip():
                raise SuiteError(f"{name}.yaml: '# Suite: {value}' gives no reason: write '{form}: <reason>'")
            return Membership(name, form, reason.strip())
    raise SuiteError(f"{name}.yaml: '# Suite: {value}' is not a suite membership: write {GRAMMAR}")


def memberships(experiments: Path) -> list[Membership]:
    """Every experiment file's membership in a folder (conf/experiment/), by name."""
    return [membership(p.stem, p.read_text()) for p in sorted(experiments.glob("*.yaml"))]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "left-out" or not Path(argv[1]).is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    try:
        found = memberships(Path(argv[1]))
    except SuiteError as e:
        print(f"error: {Path(argv[1]) / str(e)}", file=sys.stderr)
        return 2
    print("\n".join(f"{m.name}\t{m.words()}" for m in found if not m.in_cpu_suite))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
