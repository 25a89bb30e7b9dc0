"""A claim's verdict as one record: what was measured, the test, its p-values, the words.

claims.py fills it (judge, then settle); tables.py writes it to <experiment>.claims.json
with `as_json`: the claim's own fields first, in the schema's order, then the judgement's,
in the order below. The working fields (the evidence's parts, the reason, the opposite
test's name) are not written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .stated import as_claim


@dataclass
class Verdict:
    claim: dict  # the claim as stated
    combination: str = ""  # the values of keys the claim leaves unpinned (a user's sweep), or ""
    measured: str = ""  # each arm's values, in a few words
    n: list = field(default_factory=list)  # runs (or pairs) tested per arm
    diverged: int | None = None  # runs of its arms that diverged
    test: str | None = None
    p: float | None = None  # for the claim
    p_against: float | None = None
    p_holm: float | None = None  # Holm-adjusted within the experiment
    p_against_holm: float | None = None
    difference: float | None = None  # the estimate the test is about
    estimate_of: str | None = None
    interval: list | None = None
    interval_level: str | None = None
    exact: bool | None = None  # identical values: the claim holds (True) or fails (False) exactly
    band: float | None = None  # `=` / `!=`: the band, absolute
    p_two_sided: float | None = None  # the claim's one p for the report-wide false discovery rate
    difference_test: str | None = None  # `=`: the two-sided test of the difference, in words
    post_hoc: bool = False  # not among the claims the runs recorded
    # A two-sided (neutral) question's two possible answers, A's side then B's ("bn=pre higher",
    # "bn=none higher"); None for a claim with a direction. Its verdict is one of them or NO_DIFFERENCE.
    answers: list | None = None
    verdict: str | None = None  # None until settled (or decided without a test)
    expected: str | None = None  # a neutral answer beside the side a source expected: "as expected (...)"
    evidence: str = ""
    # working fields, not written
    parts: list = field(default_factory=list)  # the evidence before the test's words
    why: str | None = None  # the decision's words, when no test's words give it
    opposite: str | None = None  # the test against the claim, when another than the test for it

    @property
    def stated(self):
        """The claim as its type (the schema's defaults filled in)."""
        return as_claim(self.claim)

    def tested(self) -> bool:
        """Whether it has a p (for or against the claim): what Holm's m and the tables count."""
        return self.p is not None or self.p_against is not None

    def as_json(self) -> dict:
        return {**self.claim, **{name: getattr(self, name) for name in WRITTEN}}


WRITTEN = tuple(f.name for f in fields(Verdict) if f.name not in ("claim", "parts", "why", "opposite"))
