"""The benchmark: its arithmetic on a few steps (needs the data sets, as the benchmark does),
its data fetched before measuring, rows kept as measured, and the machine's load judged."""

from __future__ import annotations

import shutil
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import bnrepro.bench as bench
from bnrepro.bench import anchor, checkpoint_cost, load, plan, procs, report, run
from bnrepro.bench.loops import experiment_config, reference_task
from bnrepro.data import sources

CPU = torch.device("cpu")
TINY_CONV = ("model.width=4", "data.test_limit=100")


def by_key(rows):
    return {row.key: row for row in rows}


@pytest.fixture
def fake_processes(monkeypatch):
    """The rows measured in processes of their own (reference loops, matmul rates, packs at
    once) at a fixed 1,000 run-steps/s per process, without starting any."""
    calls = []

    def run_together(commands, threads, runs):
        calls.append((commands, threads, runs))
        return 1000.0 * len(commands)

    def rates_side_by_side(commands, threads):
        calls.append((commands, threads, None))
        return [1000.0] * len(commands), 1.0

    monkeypatch.setattr(procs, "run_together", run_together)
    monkeypatch.setattr(procs, "rates_side_by_side", rates_side_by_side)
    return calls


@pytest.mark.slow
@pytest.mark.network
def test_benchmark_reports_medians_of_interleaved_rounds(fake_processes, monkeypatch):
    from bnrepro.run import loop

    # the compiled rows train eagerly here: a compile would add ~15 s a row (test_compiled.py)
    monkeypatch.setattr(loop, "compile_wanted", lambda *args: False)
    rows, facts = run(
        steps=40, reference_steps=10, batched_runs=[2], full=False, device=CPU, repeats=3, log=lambda m: None
    )
    keys = by_key(rows)
    threads = torch.get_num_threads()
    assert [r.path for r in rows].count("reference") == (5 if threads > 1 else 3)  # resident ones and DataLoaders
    # the anchor: every MLP row against the resident loop at its threads, with its matmul row's shapes
    resident = "resident_mlp_1t"
    assert keys["single_bn"].against == resident and keys["batched_2"].peak == "matmul_mlp_1x2_1t"
    assert keys["matmul_mlp_1x2_1t"].runs == 2 and keys["single_bn"].flops == pytest.approx(26.376e6)
    if threads > 1:
        assert keys["single_bn_threads"].against == f"resident_mlp_{threads}t"
        assert keys["reference_bn"].threads == threads and keys["reference_bn"].peak == f"matmul_mlp_1x1_{threads}t"
    assert "every probe" in keys["single_bn_all_probes"].what and facts["all_probes_cost"] < 1
    assert len(keys["single_bn"].shares) == 3 and len(facts["probe_eval_costs_in_run"]) == 3
    assert "train.compile=on" in keys["single_bn_compiled"].what and keys["batched_2_compiled"].runs == 2
    for row in rows:
        assert len(row.rates) == 3 and 0 < min(row.rates) <= row.median <= max(row.rates)
    assert keys["batched_2"].runs == 2 and facts["pack_run_steps"][2] == pytest.approx(2 * keys["batched_2"].median)
    assert len(facts["speedups"]) == 3
    text = report(rows, facts, CPU, "bnrepro bench", cuda=False)
    assert "median of 3 interleaved measurements" in text and "round by round" in text
    assert "Checkpoints:" in text and "MLP, one run with probes and eval ≥ 5×" in text
    gflops = 2 * keys["batched_2"].median * 26.376e6 / 1e9
    share = 100 * gflops / (1000 * 26.376e6 / 1e9)  # the fake matmul row: 1,000 run-steps/s
    assert f"| {gflops:,.2f} | {share:.0f}% of bmm[2] 1t |" in text and "% of matmul rate" in text


@pytest.mark.slow
@pytest.mark.network
def test_convnet_rows_compare_the_same_network_in_both_loops():
    """fig3's BN-x5 net: the plain loop, bnrepro's one run and a pack, each a positive rate;
    the speed-ups are ratios of run-steps/s to the reference's steps/s."""
    rows, facts = run(
        steps=10,
        reference_steps=3,
        batched_runs=[1],
        full=False,
        device=CPU,
        log=lambda m: None,
        parts=("convnet",),
        conv_steps=(3, 3),
        conv_overrides=TINY_CONV,
        conv_runs=2,
        matmul_seconds=0.02,
    )
    keys = by_key(rows)
    assert {"reference_conv", "single_conv", "single_conv_quiet", "pack_conv", "resident_convnet_1t"} <= set(keys)
    assert all(row.rates[0] > 0 for row in rows)  # the resident, DataLoader and matmul rows in processes of their own
    reference = keys["reference_conv"].median
    assert facts["conv_speedup"] == pytest.approx(keys["single_conv"].median / reference)
    assert facts["conv_pack_speedup"] == pytest.approx(2 * keys["pack_conv"].median / reference)
    text = report(rows, facts, CPU, "bnrepro bench --parts convnet", cuda=False)
    assert "fig3's BN-x5" in text and "2 runs together ≥ 1.3×" in text and "Probes and eval cost" not in text
    assert "% of mm 1t" in text and "× resident 1t" in text and "conv net, 2 runs together ≥ 1.5×" in text


@pytest.mark.slow
@pytest.mark.network
def test_packs_in_processes_of_their_own_time_together_over_one_span():
    """Two bnrepro packs at once (bench/worker.py): set up, then timed together; the group's
    rate is its run-steps over the span, at most the sum of the two processes' own rates."""
    task = {"overrides": ["device=cpu", "train.steps=30", "train.threads=1"], "runs": 2, "experiment": "mnist_fig1"}
    rate = procs.run_together([procs.worker_command(task)] * 2, None, [2, 2])
    assert 0 < rate
    # bnrepro's run and the resident plain loop at the same time: each one's own rate
    plain = reference_task(experiment_config(["device=cpu", "model.bn=pre"]), "resident", CPU, 30, 1)
    together = [procs.worker_command({**task, "runs": 1}), procs.reference_command(plain)]
    (ours, theirs), overlap = procs.rates_side_by_side(together, 1)
    assert ours > 0 and theirs > 0 and 0 <= overlap <= 1
    bad = {**task, "experiment": "no_such_experiment"}  # composing fails: the process exits before "ready"
    with pytest.raises(RuntimeError, match="a measuring process failed"):
        procs.run_together([procs.worker_command(bad)], None, [2])


def schedule_row(key, net, runs, threads, procs_, rate):
    row = plan.Row(key, "bnrepro", key, runs, lambda: rate, net=net, threads=threads, procs=procs_)
    row.rates = [rate]
    return row


def test_the_scheduling_evidence_lists_the_ways_fastest_first():
    rows = [
        schedule_row("batched_16", "mlp", 16, 1, 1, 90.0),
        schedule_row("batched_16_threads", "mlp", 16, 2, 1, 150.0),
        schedule_row("batched_16_procs", "mlp", 16, 1, 2, 160.0),
        schedule_row("single_conv", "convnet", 1, 2, 1, 137.0),
        schedule_row("conv_procs", "convnet", 2, 1, 2, 100.0),
    ]
    (mlp, mlp_ways), (conv, conv_ways) = anchor.facts(rows)["schedule"]
    assert mlp == "MLP, on 2 cores" and [rate for _, rate in mlp_ways] == [2560.0, 2400.0, 1440.0]
    assert mlp_ways[0][0] == "2 processes × 8 runs, 1 thread each"
    assert conv_ways == [("one process, 1 run, 2 threads", 137.0), ("2 processes × 1 run, 1 thread each", 200.0)][::-1]
    text = report(rows, plan.facts(rows, 100), CPU, "bnrepro bench --parts schedule", cuda=False)
    assert "Fastest: **2 processes × 8 runs, 1 thread each** (1.07× the next)" in text


def test_the_pack_target_reads_the_row_with_probes_and_eval_and_states_the_step_alone_apart():
    rows = [
        schedule_row("batched_16_procs", "mlp", 16, 1, 2, 100.0),  # 1,600 run-steps/s
        schedule_row("batched_16_procs_quiet", "mlp", 16, 1, 2, 130.0),  # 2,080
        schedule_row("matmul_mlp_2x8_1t", "mlp", 16, 1, 2, 200.0),  # 3,200: the 100%
    ]
    for row in rows:
        row.flops, row.peak = 1000, "matmul_mlp_2x8_1t"
    rows[2].path, rows[2].short = "matmul", "2×bmm[8] 1t"
    found = anchor.facts(rows)
    assert found["pack_matmul_share"] == ("2 processes × 8 runs, 1 thread each", pytest.approx(0.5), "2×bmm[8] 1t")
    assert found["pack_matmul_share_training"][1] == pytest.approx(0.65)
    text = report(rows, plan.facts(rows, 100), CPU, "bnrepro bench --parts schedule", cuda=False)
    assert "**50%** of 2×bmm[8] 1t with probes + eval (2 processes × 8 runs, 1 thread each; not met)" in text
    assert "training only 65% of 2×bmm[8] 1t (met for the step alone)" in text
    # the training-only row is not one of the scheduling choices (those compare like with like)
    assert [rate for _, rate in found["schedule"][0][1]] == [1600.0]


def test_the_training_only_target_reads_the_eager_and_the_compiled_run_against_the_resident_loop():
    rows = [
        schedule_row("resident_mlp_1t", "mlp", 1, 1, 1, 1000.0),
        schedule_row("single_bn_quiet", "mlp", 1, 1, 1, 870.0),
        schedule_row("single_bn_compiled", "mlp", 1, 1, 1, 1380.0),
    ]
    for row in rows[1:]:
        row.against = "resident_mlp_1t"
    found = anchor.facts(rows)["training_vs_resident"]
    assert found == [
        ("MLP", "one process, 1 run, 1 thread", pytest.approx(0.87)),
        ("MLP", "one process, 1 run, 1 thread, compiled", pytest.approx(1.38)),
    ]


def test_the_probes_cost_target_reads_the_shares_timed_within_the_runs_not_the_rates_drift():
    rows = [schedule_row("single_bn", "mlp", 1, 1, 1, 700.0), schedule_row("single_bn_quiet", "mlp", 1, 1, 1, 720.0)]
    rows[0].rates, rows[1].rates = [700.0, 600.0, 650.0], [720.0, 800.0, 700.0]  # a drift of up to 25% between runs
    rows[0].shares, rows[1].shares = [0.14, 0.16, 0.13], [0.03, 0.02, None]  # a round without a share drops out
    found = plan.facts(rows, 100)
    # the training-only run's probing seconds over the full run's time: its share x its time / the full run's
    expected = [0.14 - 0.03 * 700 / 720, 0.16 - 0.02 * 600 / 800]
    assert found["probe_eval_costs_in_run"] == pytest.approx(expected)
    assert found["probe_eval_cost_in_run"] == pytest.approx(sum(expected) / 2)
    assert found["probe_eval_cost"] == pytest.approx(1 - 650 / 720)
    text = report(rows, found, CPU, "bnrepro bench", cuda=False)
    assert "probes and eval ≤ 15% of a run: **12.8%** timed within the runs" in text
    assert "round by round 11.1%, 14.5%" in text and "(met); from the two rows' rates 9.7%" in text


def test_the_training_only_target_also_reads_the_run_timed_beside_its_plain_loop_round_by_round():
    row = schedule_row("single_bn_beside", "mlp", 1, 1, 1, 900.0)
    row.rates, row.partner_rates = [900.0, 700.0, 800.0], [1000.0, 760.0, 850.0]  # both slow in round 2
    row.overlaps = [1.0, 0.97, 1.0]
    [(net, how, value)] = anchor.facts([row])["training_vs_resident"]
    assert value == pytest.approx(statistics.median([0.9, 700 / 760, 800 / 850]))
    assert "at the same time as the plain loop on the other core; round by round 0.90×, 0.92×, 0.94×" in how
    assert "the plain loop timed through 97% of its span or more" in how
    text = report([row], plan.facts([row], 100), CPU, "bnrepro bench", cuda=False)
    assert "**0.92×** (met)" in text


def test_checkpoint_cost_is_the_time_checkpoints_add_per_checkpoint_and_at_the_default_interval():
    facts = checkpoint_cost(rate_without=100.0, rate_with=90.0, steps=1000, every=100)  # 9 checkpoints
    assert facts["checkpoint_s"] == pytest.approx((1000 / 90 - 1000 / 100) / 9)
    between = max(facts["default_min_s"], 50 * facts["checkpoint_s"])  # time-paced, at any step
    assert facts["checkpoint_default_cost"] == pytest.approx(facts["checkpoint_s"] / (facts["checkpoint_s"] + between))


@pytest.mark.slow
@pytest.mark.network
def test_measures_rows_compare_the_same_run_with_and_without_the_measures():
    """The landscape experiment's VGG: without measures, with the landscape probe, with ICS;
    the cost is the ratio of the rates (needs Fashion-MNIST)."""
    rows, facts = run(
        steps=10,
        reference_steps=3,
        batched_runs=[1],
        full=False,
        device=CPU,
        log=lambda m: None,
        parts=("measures",),
        conv_steps=(100, 3),
        matmul_seconds=0.02,
    )
    keys = by_key(rows)
    measured = {key for key in keys if not key.startswith("matmul_vgg")}  # and the VGG's matmul rate
    assert measured == {"measures_off", "measures_landscape", "measures_ics"} and keys["measures_ics"].flops > 0
    assert facts["landscape_cost"] == pytest.approx(keys["measures_off"].median / keys["measures_landscape"].median)
    text = report(rows, facts, CPU, "bnrepro bench --parts measures", cuda=False)
    assert "landscape probe every 100 steps" in text and "ICS every 100 steps" in text


@pytest.mark.slow
@pytest.mark.network
def test_on_an_empty_data_cache_the_benchmark_fetches_first_and_completes(tmp_path, monkeypatch, fake_processes):
    """It crashed after minutes of measuring with torchvision's "Dataset not found": the data
    is now fetched (bnrepro's verified sources; here one that copies the test machine's cache)
    before the first measurement."""
    cache = Path(sources.SPECS["fashion_mnist"].subdir)
    original = Path("~/.cache/bnrepro/data").expanduser() / cache
    if sources.problems(sources.SPECS["fashion_mnist"], original):
        pytest.skip("needs Fashion-MNIST in ~/.cache/bnrepro/data")
    events = []

    def copy(root: Path, scratch: Path) -> None:
        events.append("fetched")
        for name in sources.FASHION_FILES:
            shutil.copy(original / name, scratch / name)

    spec = replace(sources.SPECS["fashion_mnist"], sources=(sources.Source("a copy", copy),))
    monkeypatch.setitem(sources.SPECS, "fashion_mnist", spec)
    monkeypatch.setenv("BNREPRO_DATA", str(tmp_path / "empty"))
    rows, facts = run(
        steps=10,
        reference_steps=3,
        batched_runs=[1],
        full=False,
        device=CPU,
        parts=("convnet",),
        conv_steps=(3, 3),
        conv_overrides=TINY_CONV,
        conv_runs=2,
        log=events.append,
        on_measured=lambda rows, facts: events.append("measured"),
    )
    assert events.index("fetched") < events.index("measured")
    assert (tmp_path / "empty" / cache / "train-images-idx3-ubyte").is_file()
    assert all(row.rates for row in rows) and "conv_pack_speedup" in facts


IDLE = load.Sample(load=0.1, busy_s=100.0, own_s=10.0, wall_s=1000.0)


def idle_after(seconds: float, own: float, others: float) -> load.Sample:
    """A sample `seconds` after IDLE: this process used `own` CPU seconds, others `others`."""
    return load.Sample(
        load=1.9, busy_s=IDLE.busy_s + own + others, own_s=IDLE.own_s + own, wall_s=IDLE.wall_s + seconds
    )


def test_the_load_verdict_needs_a_quiet_machine_before_and_meanwhile():
    quiet = load.judge(IDLE, idle_after(60, own=110, others=2), cores=2)
    assert quiet.comparable and "0.10 before" in quiet.text and "0.03 cores" in quiet.text
    busy_before = load.judge(replace(IDLE, load=1.5), idle_after(60, own=110, others=2), cores=2)
    assert not busy_before.comparable and "above 1" in busy_before.text
    busy_meanwhile = load.judge(IDLE, idle_after(60, own=60, others=40), cores=2)
    assert not busy_meanwhile.comparable and "not comparable" in busy_meanwhile.text
    no_proc = load.judge(replace(IDLE, busy_s=None), replace(idle_after(60, 110, 2), busy_s=None), cores=2)
    assert no_proc.comparable and "other processes" not in no_proc.text


def fake_rows(fail_at: int | None = None):
    """Three rows whose measurements return 10, 20, 30 steps/s (or raise at `fail_at`)."""

    def measure(i):
        def once():
            if i == fail_at:
                raise RuntimeError("the machine went away")
            return 10.0 * (i + 1)

        return once

    return [plan.Row(f"row{i}", "bnrepro", f"row {i}", 1, measure(i), "row0") for i in range(3)]


@pytest.fixture
def no_training(monkeypatch):
    """main() on fake rows: no data, no training; the machine's load from `samples`."""
    samples = []
    monkeypatch.setattr(plan, "fetch_data", lambda parts, log: None)
    monkeypatch.setattr(load, "sample", lambda: samples.pop(0) if len(samples) > 1 else samples[0])
    return samples


def test_rows_measured_before_a_failure_stay_in_the_report(tmp_path, monkeypatch, no_training):
    no_training += [IDLE]
    monkeypatch.setattr(plan, "plan", lambda *a, **k: fake_rows(fail_at=2))
    out = tmp_path / "bench.md"
    with pytest.raises(RuntimeError, match="went away"):
        bench.main(["--device", "cpu", "--parts", "convnet", "--repeats", "1", "--out", str(out)])
    text = out.read_text()
    assert "in progress: 2 of 3 measurements" in text
    assert "| bnrepro | row 0 | 10.0 |" in text and "| bnrepro | row 1 | 20.0 |" in text
    assert "| bnrepro | row 2 | not measured yet |" in text


def test_a_report_for_results_needs_an_idle_machine(tmp_path, monkeypatch, no_training, capsys):
    monkeypatch.setattr(plan, "plan", lambda *a, **k: fake_rows())
    out = tmp_path / "results" / "bench_cpu.md"
    args = ["--device", "cpu", "--parts", "convnet", "--repeats", "1", "--out", str(out)]
    no_training += [replace(IDLE, load=1.6)]
    assert bench.main(args) == 1 and not out.exists()  # busy before: nothing measured, nothing written
    assert "idle machine" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    no_training[:] = [IDLE, idle_after(10, own=10, others=0.1), idle_after(20, own=20, others=15)]
    assert bench.main(args) == bench.EXIT_BUSY  # it became busy after the first row
    moved = tmp_path / "bench_cpu.under-load.md"
    assert not out.exists() and "**not comparable**" in moved.read_text() and "status: complete" in moved.read_text()
    no_training[:] = [IDLE]
    assert bench.main(args) == 0
    text = out.read_text()
    assert "status: complete" in text and "figures comparable" in text and "| bnrepro | row 2 | 30.0 |" in text


def test_the_convnet_rows_name_their_profile_and_its_channels():
    """The convnet rows train fig3's net at a committed profile: the CPU one (the net the CPU
    results train) by default on a CPU, the paper-scale one on a GPU; the report says which."""
    from bnrepro.bench.report import _profile_text

    assert _profile_text("fig3_cpu") == " (profile fig3_cpu, channels 8/16/32)"
    assert _profile_text("fig3_gpu") == " (profile fig3_gpu, channels 32/64/128)"
    assert _profile_text("") == ""


@pytest.mark.slow
@pytest.mark.network
def test_whitening_rows_time_bn_against_decorrelated_bn_at_each_group_size():
    """mnist_fig1's MLP, one run each: BN, then decorrelated BN in groups of 4, 20, 100 units; a
    step's cost is BN's rate over the whitened run's."""
    rows, facts = run(
        steps=5, reference_steps=3, batched_runs=[1], full=False, device=CPU, log=lambda m: None, parts=("whitening",)
    )
    keys = by_key(rows)
    assert set(keys) == {"whiten_bn", "whiten_g4", "whiten_g20", "whiten_g100"}
    assert facts["whitening_cost"][100] == pytest.approx(keys["whiten_bn"].median / keys["whiten_g100"].median)
    text = report(rows, facts, CPU, "bnrepro bench --parts whitening", cuda=False)
    assert "groups of 100 units" in text and "a step's time over BN's" in text
