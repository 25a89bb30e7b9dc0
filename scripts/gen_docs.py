"""Regenerate the docs that are generated from the code's declarations.

    python scripts/gen_docs.py           write them
    python scripts/gen_docs.py --check   exit 1, naming the stale files, when one differs

- docs/tags.md: the tag glossary, from the tags' declarations (run/probes.py, run/tags.py);
- docs/config.md: every config key with its type, default, range and help, from the schema
  (config/schema.py, and each norm layer's options in config/norms.py or its own module).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def generated() -> dict[Path, str]:
    """Each generated file's path and the text it should hold."""
    from bnrepro.config.docs import key_table
    from bnrepro.run.logged_tags import glossary

    return {REPO / "docs" / "tags.md": glossary(), REPO / "docs" / "config.md": key_table()}


def stale() -> list[Path]:
    return [path for path, text in generated().items() if not path.is_file() or path.read_text() != text]


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        paths = stale()
        for path in paths:
            print(f"{path.relative_to(REPO)} is stale: run python scripts/gen_docs.py", file=sys.stderr)
        return 1 if paths else 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    for path, text in generated().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
