"""scripts/suite_floor.py: each experiment's matrix products at given rates, beside its wall time."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from bnrepro.bench.flops import net_of, step_flops
from bnrepro.config import to_plain
from conftest import tiny

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("suite_floor", REPO / "scripts" / "suite_floor.py")
floor = sys.modules["suite_floor"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(floor)


def write_run(folder: Path, cfg, steps: int) -> None:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"config": to_plain(cfg), "steps_done": steps}))


def test_an_experiment_counts_every_runs_steps_and_evaluations_at_the_rate_of_its_network(tmp_path):
    cfg = tiny()  # an MLP, 30 steps, evaluations every 15 on its 128 test examples
    write_run(tmp_path / "exp" / "run1", cfg, 30)
    write_run(tmp_path / "exp" / "run2", cfg, 20)  # stopped early (diverged): its own steps count
    (tmp_path / "exp" / "reproduce.json").write_text(json.dumps({"wall_s": 12}))
    rates = {"mlp": 1e9, "conv": 5e8}
    found = floor.measure(tmp_path / "exp", rates)
    net = net_of(cfg)
    sizes = [net.image[0] * net.image[1] * net.image[2], *net.widths, net.classes]
    forward_per_example = sum(2 * a * b for a, b in zip(sizes, sizes[1:]))  # a multiply-add per weight
    assert found.runs == 2 and found.uncounted == 0 and found.wall_s == 12
    assert found.train_s == pytest.approx(50 * step_flops(net) / 1e9)
    # evaluations at steps 15 and 30 (run1) and 15 (run2: stopped at 20 of 30, before the last step's)
    assert found.eval_s == pytest.approx(3 * 128 * forward_per_example / 1e9, rel=1e-9)


def test_a_gaussian_input_is_counted_at_its_dimension_not_as_an_image(tmp_path):
    cfg = tiny(data__name="gaussian", data__dim=10, model__width=4, model__depth=1)
    write_run(tmp_path / "exp" / "run1", cfg, 1)
    found = floor.measure(tmp_path / "exp", {"mlp": 1.0, "conv": 1.0})
    batch = cfg.train.batch_size
    forward = 2 * batch * (10 * 4 + 4 * 10)  # 10 inputs -> 4 units -> 10 classes
    backward = 2 * batch * (10 * 4 + 4 * 10) + 2 * batch * 4 * 10  # both weight gradients, the hidden layer's input
    assert found.train_s == pytest.approx(forward + backward)


def test_a_network_without_a_flop_count_is_listed_as_not_counted_and_the_suite_totals_its_members(tmp_path, capsys):
    write_run(tmp_path / "mlp" / "run1", tiny(), 30)
    write_run(tmp_path / "lstm" / "run1", tiny(model__arch="lstm"), 30)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "mlp.yaml").write_text("# Suite: cpu\n")
    (conf / "lstm.yaml").write_text("# Suite: out of the CPU suite: too slow here\n")
    assert floor.main(["--mlp-gflops", "1", "--conv-gflops", "1", "--experiments", str(conf),
                       str(tmp_path / "mlp"), str(tmp_path / "lstm")]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "| lstm (out of the CPU suite) | 1 (1 not counted) | 0.0 |" in text
    assert "The suite (1 experiments)" in text and "| mlp | 1 | " in text and "| not recorded |" in text


def test_a_missing_folder_or_a_rate_of_zero_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        floor.main(["--mlp-gflops", "1", "--conv-gflops", "1", str(tmp_path / "none")])
    assert exit_.value.code == 2 and "not a folder of runs" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        floor.main(["--mlp-gflops", "0", "--conv-gflops", "1", str(tmp_path)])
    assert exit_.value.code == 2 and "the rates must be positive" in capsys.readouterr().err
