"""The names nearest a mistyped one, for a message's "nearest: ..." or "did you mean ...?".

Here, at the bottom of the package, so every part that refuses a name can say it the same
way: a config key on the command line (launch/typos.py), a claim's text
(underpowered_here.py), a tag no run logs (run/logged_tags.py, report/tables.py).
"""

from __future__ import annotations

import difflib
from typing import Callable, Iterable


def nearest(name: str, names: Iterable[str], n: int = 3, cutoff: float = 0.5) -> list[str]:
    """Up to n of `names` closest to `name`, closest first; none below the similarity cutoff
    (difflib's ratio, 0 to 1)."""
    return difflib.get_close_matches(name, list(names), n=n, cutoff=cutoff)


def nearest_note(
    name: str, names: Iterable[str], n: int = 3, cutoff: float = 0.5, show: Callable[[str], str] = str
) -> str:
    """The end of a message: '; nearest: a, b' (each shown by `show`), or '' when none is close."""
    close = nearest(name, names, n, cutoff)
    return f"; nearest: {', '.join(map(show, close))}" if close else ""
