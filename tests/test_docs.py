"""The README's glossary explains every tag a run logs."""
from __future__ import annotations

import re

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bnrepro.run.loop import train_runs

from conftest import REPO, tiny


def glossary_patterns() -> list[re.Pattern]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Tag glossary", 1)[1].split("\n## ", 1)[0]
    patterns = []
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        cell = row.split("|")[1]
        names = re.findall(r"`([^`]+)`", cell)
        prefix = names[0].rsplit("/", 1)[0] if "/" in names[0] else ""
        for name in names:
            full = name if "/" in name else f"{prefix}/{name}"
            patterns.append(re.compile(re.escape(full).replace("NN", r"\d\d") + "$"))
    return patterns


def test_every_logged_tag_is_in_the_readme_glossary(tmp_path):
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
    assert not missing, f"tags not explained in README.md: {missing}"
    assert all(re.match(r"^[a-z_0-9]+/", tag) for tag in tags), "every tag is namespaced"
