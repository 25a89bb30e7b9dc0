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


def test_every_logged_tag_is_in_the_glossary(tmp_path):
    from bnrepro.run.probes import PROBES

    cfg = tiny(model__bn="pre", probes__hist_every=10, probes__pictures=True, eval__compare_stats=True, eval__batch_sizes=[1, 16],
               probes__which=sorted(PROBES), probes__initial=True, eval__variance_shift=True, eval__train_gap=True, model__bias=True,
               probes__ics_every=10, probes__landscape_every=10, probes__landscape_sizes=2)
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
