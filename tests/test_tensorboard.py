"""TensorBoard, started on a small sweep, shows what docs/tensorboard.md says: checked through its
HTTP data API (the same requests its web page makes)."""

from __future__ import annotations

import re

import pytest

from conftest import bnrepro
from tensorboard_server import get, tensorboard
from test_cli import TINY


@pytest.mark.slow
def test_tensorboard_shows_the_layout_hparams_and_pictures_of_a_sweep(tmp_path):
    runs = tmp_path / "runs"
    bnrepro(
        "train",
        *TINY,
        f"out_dir={runs}",
        "name=tb",
        "model.depth=3",
        "model.bn=none,pre",
        "seed=1,2",
        "probes.pictures=true",
        cwd=tmp_path,
        check=True,
    )
    with tensorboard(runs / "tb", runs=4) as base:
        scalars = get(base, "/data/plugin/scalars/tags")
        assert len(scalars) == 4 and all("bn=" in run and "seed=" in run for run in scalars)
        logged = {tag for tags in scalars.values() for tag in tags}
        layout = get(base, "/data/plugin/custom_scalars/layout")
        charts = [chart for category in layout["category"] for chart in category["chart"]]
        assert len(charts) > 10
        for chart in charts:
            if "multiline" in chart:
                tags = chart["multiline"]["tag"]
            else:
                tags = [
                    tag
                    for series in chart["margin"]["series"]
                    for tag in (series["value"], series["lower"], series["upper"])
                ]
            for tag in tags:
                assert any(re.search(tag, name) for name in logged), f"{chart['title']}: no tag matches {tag}"
        experiment = get(base, "/data/plugin/hparams/experiment", {"experimentName": ""})
        keys = {info["name"] for info in experiment["hparamInfos"]}
        assert keys == {"model.bn", "model.activation", "optim.lr", "seed"}  # the swept keys and the usual ones
        images = get(base, "/data/plugin/images/tags")
        assert len(images) == 4
        for tags in images.values():
            assert {"pictures/grad_norm_by_layer", "pictures/nonlinearity_inputs_by_layer"} <= set(tags)
