"""`report.underpowered_here`: an experiment file's own under-powered marks on the claims it
inherits (`defaults: - placement`), keyed by each claim's exact text.

One claim list then serves a file and the files that extend it with fewer seeds: the overlay
is applied after composition (and by the report's not-run reader, which reads the YAML without
composing), so every reader of the claims sees the same marks.
"""

from __future__ import annotations

from .checks import ConfigError
from .nearest import nearest_note


def apply_underpowered_here(report: dict, where: str) -> list[dict]:
    """report["claims"] with report["underpowered_here"] applied: the claim whose text is a
    key gets `underpowered: <reason>` (replacing any mark it had). A key that names no claim,
    or an empty reason, is refused naming `where` (the file or experiment) and the text."""
    claims = list(report.get("claims") or [])
    overlay = report.get("underpowered_here") or {}
    texts = [c.get("text") for c in claims]
    for text, reason in overlay.items():
        key = f"report.underpowered_here[{text!r}] ({where})"
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                f"{key}={reason!r} is out of range: must say why the claim is under-powered by design (docs/budget.md)"
            )
        if text not in texts:
            # one, quoted: a claim's text is a sentence, commas and all
            hint = nearest_note(str(text), [t for t in texts if t], n=1, show=repr)
            raise ConfigError(f"{key} is out of range: no claim has that exact text{hint}")
        i = texts.index(text)
        claims[i] = {**claims[i], "underpowered": reason}
    return claims
