"""The generated docs: the tag glossary explains every tag a run logs, and docs/ is current."""

from __future__ import annotations

import importlib.util
import re

import pytest

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bnrepro.run.loop import train_runs

from conftest import REPO, tiny


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def glossary_patterns() -> list[re.Pattern]:
    """Each tag named in docs/tags.md, `layer_NN` and `NNNN` as any number."""
    patterns = []
    for row in (REPO / "docs" / "tags.md").read_text().splitlines():
        if not row.startswith("| `"):
            continue
        names = re.findall(r"`([^`]+)`", row.split("|")[1])
        folder = names[0].rsplit("/", 1)[0]
        for name in names:
            full = name if "/" in name else f"{folder}/{name}"
            patterns.append(re.compile(re.escape(full).replace("NN", r"\d\d") + "$"))
    return patterns


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
def test_every_logged_tag_is_in_the_glossary(tmp_path):
    from bnrepro.run.probes import PROBES

    cfg = tiny(
        model__bn="pre",
        probes__hist_every=10,
        probes__pictures=True,
        eval__compare_stats=True,
        eval__batch_sizes=[1, 16],
        probes__which=sorted(PROBES),
        probes__initial=True,
        eval__variance_shift=True,
        eval__train_gap=True,
        model__bias=True,
        probes__ics_every=10,
        probes__landscape_every=10,
        probes__landscape_sizes=2,
    )
    train_runs([cfg], [tmp_path / "run"], log=lambda m: None)
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    tags = events.Tags()["scalars"] + events.Tags()["histograms"] + events.Tags()["images"]
    assert any(tag.startswith("pictures/") for tag in tags)
    assert len(tags) > 40
    patterns = glossary_patterns()
    missing = [tag for tag in tags if not any(p.match(tag) for p in patterns)]
    assert not missing, f"tags not explained in docs/tags.md: {missing}"
    assert all(re.match(r"^[a-z_0-9]+/", tag) for tag in tags), "every tag is namespaced"


def test_the_generated_docs_are_current():
    """docs/tags.md and docs/config.md are what scripts/gen_docs.py makes of the declarations."""
    assert _gen_docs().stale() == [], "run: python scripts/gen_docs.py"


def test_a_changed_declaration_makes_the_docs_stale(monkeypatch):
    from bnrepro.config import schema

    gen_docs = _gen_docs()
    field = schema.OptimConfig.__dataclass_fields__["lr"]
    monkeypatch.setattr(field, "metadata", {**field.metadata, "help": "a new meaning"})
    assert gen_docs.stale() == [REPO / "docs" / "config.md"]


@pytest.mark.slow
def test_train_help_lists_every_key_with_its_default_range_and_help(tmp_path):
    from bnrepro.config.docs import keys

    from conftest import bnrepro

    text = " ".join(bnrepro("train", "--help", cwd=tmp_path, check=True).stdout.split())
    for key, _, default, allowed, meaning in keys():
        assert f"{key} = {default}" in text, key
        assert allowed.replace("must be ", "") in text and " ".join(meaning.split()[:6]) in text, key
    assert "renorm: Batch Renormalization" in text and "options eps, rmax, dmax" in text


def _anchors(document) -> set[str]:
    """GitHub's anchors of a markdown file's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
    return {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in text.splitlines()
        if line.startswith("#")
    }


def test_the_readme_is_a_front_door_that_links_its_docs():
    """README.md stays short (issue 27 item 7): the rest lives in docs/, each page linked from it."""
    readme = REPO / "README.md"
    assert len(readme.read_text().splitlines()) <= 300, "README.md over 300 lines: move the detail to docs/"
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", readme.read_text()))
    assert not [path for path in linked if not (REPO / path).is_file()], "README links a docs page that does not exist"
    pages = {f"docs/{page.name}" for page in (REPO / "docs").glob("*.md")}
    assert not pages - linked, f"docs pages the README does not link: {sorted(pages - linked)}"


def test_every_link_between_the_docs_reaches_its_file_and_heading():
    """A moved section leaves no dead link: every relative link in README.md and docs/*.md names an
    existing file, and an anchor names a heading of that file."""
    dead = []
    for document in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (document.parent / path).resolve() if path else document
            if not file.exists():
                dead.append(f"{document.name}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                dead.append(f"{document.name}: {target} (no such heading)")
    assert not dead, f"dead links: {dead}"


def test_every_experiment_has_its_line_in_the_readme_and_its_description_in_the_docs():
    files = {path.stem for path in (REPO / "conf" / "experiment").glob("*.yaml")}
    for document in (REPO / "README.md", REPO / "docs" / "experiments.md"):
        rows = set(re.findall(r"^\| `([a-z0-9_]+)` \|", document.read_text(), flags=re.M))
        assert files - rows == set(), f"{document.name} lacks experiments {sorted(files - rows)}"
        assert rows - files == set(), f"{document.name} lists experiments with no file: {sorted(rows - files)}"
