"""A metric spec, `tag:how`: what one number per run a claim, a table column or a figure reads.

Parsed here once, for every place that takes one (train's checks, claims, report.columns,
`bnrepro table --columns`, figures):

- a summary value: `test_acc_final`, `test_acc_best`, `best_step`, ... (no `/`, no `:how`);
- a counted outcome: `diverged`, `at_chance` (1 or 0 per finished run);
- a logged tag, `grad_norm/layer_01`, read as `:final` (the default, its last value),
  `:first` (its first probe step), `:median` (over the run), `:change` (|final - first|),
  `:steps_to=X` (the first evaluated step at which it reached X; +inf: never, censored) or
  `:median<=N` (the median over its values logged at steps 1..N: a window, e.g. the first
  epoch, where the source measured; read from the run's scalars.csv).
"""

from __future__ import annotations

from dataclasses import dataclass

HOWS = ("final", "first", "median", "change")  # how a logged series becomes one number per run
COUNTED = ("diverged", "at_chance")  # counted from each run's outcome, not read from it
FORMS = (
    "a summary value (test_acc_final ...), 'diverged', 'at_chance', or a tag with an optional ':first', "
    "':final', ':median', ':change', ':steps_to=X' or ':median<=N' (N a whole step, at least 1)"
)
WINDOW = "<="  # `median<=N`: the median over the steps up to N


class MetricError(ValueError):
    """A metric spec that is none of the forms; the message names it and the forms."""


@dataclass(frozen=True)
class Metric:
    text: str  # as written
    tag: str  # the logged tag or the summary value
    how: str  # "" (a summary value or a counted outcome), one of HOWS, or "steps_to"
    target: float | None = None  # steps_to's threshold
    until: int | None = None  # median<=N: the last step of the window (None: the whole run)

    @classmethod
    def parse(cls, text: str) -> Metric:
        tag, colon, how = str(text).partition(":")
        if "/" not in tag:  # a summary value or a counted outcome: a plain name, no way to read it
            if tag and not colon and tag.replace("_", "").isalnum():
                return cls(text, tag, "")
            raise MetricError(f"{text!r} is not a metric: {FORMS}")
        if not colon or how in HOWS:
            return cls(text, tag, how or "final")
        if how.startswith("median" + WINDOW):
            last = how.removeprefix("median" + WINDOW)
            if not (last.isdigit() and int(last) >= 1):
                raise MetricError(
                    f"{text!r}: the window's last step {last!r} is not a whole step of at least 1 "
                    f"(e.g. ':median<=1000'): {FORMS}"
                )
            return cls(text, tag, "median", until=int(last))
        kind, _, threshold = how.partition("=")
        try:
            target = float(threshold)
        except ValueError:
            target = None
        if kind != "steps_to" or target is None:
            raise MetricError(f"{text!r}: no way {how!r} to read a tag: {FORMS}")
        return cls(text, tag, "steps_to", target)

    @property
    def from_history(self) -> bool:
        """Read from the run's scalars.csv (a target or a window), not from its summary."""
        return self.how == "steps_to" or self.until is not None

    @property
    def logged(self) -> bool:
        """A tag the run logs over training (not a summary value or a count)."""
        return "/" in self.tag

    @property
    def counted(self) -> bool:
        return self.text in COUNTED

    @property
    def censored(self) -> bool:
        """Steps to a target: +inf where never reached (a median and a count, never a mean)."""
        return self.how == "steps_to" or self.text == "steps_to_baseline_best"  # the latter: the paper table's

    @property
    def column(self) -> str:
        """The runs table's column: 'test_acc_final' itself, 'final:grad_norm/layer_01',
        'median:x', 'change:x', 'steps_to=0.9:x', 'median<=1000:x'."""
        if not self.logged:
            return self.text
        return f"{self.text.partition(':')[2] or 'final'}:{self.tag}"


def is_metric(text: str) -> bool:
    try:
        Metric.parse(text)
    except MetricError:
        return False
    return True
