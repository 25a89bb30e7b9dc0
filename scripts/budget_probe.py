"""Measure what each experiment's full-length sweep will cost on this machine, cheaply.

    .venv/bin/python scripts/budget_probe.py [NAME ...] [--out FILE] [--fractions 0.02,0.04] [--set KEY=VALUE]

For each experiment (default: every conf/experiment/*.yaml, sorted) it trains the whole sweep
`bnrepro train +experiment=NAME` would train (every arm and seed, into a temporary out_dir, never
results/) at two short lengths L1 < L2 with every other setting unchanged (the cadences
train.eval_every, log_every, probes.*_every kept), times each whole command as
scripts/reproduce.sh does, fits wall(L) = A + B * L (A: start-up, data, composing, the final
evaluation; B: a step with its share of the periodic evaluations) and predicts the full length
S as A + B * S (L1 a multiple of train.log_every, L2 - L1 of the cadence, so the fit counts the periodic work
exactly). An experiment whose S is at most 4 of its cadences (or where the two lengths
would be half of S or more: init_statistics' 1 step) is trained once at full length and
reported as measured. Writes a markdown table to --out (default results/budget/cpu.md) and the
same numbers as JSON beside it (.json). docs/budget.md says what the numbers are and are not.

The schedule (launch/schedule.py) picks child processes or this process from the run-steps of
the sweep, which a short probe would change: the probe computes the full-length sweep's
schedule with the project's own sweeper (composing every job, nothing trained) and passes it
as train.processes=N, then checks the schedule line the probe's `bnrepro train` printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bnrepro.bench import load as machine  # the load and others' cores, as `bnrepro bench` measures them
from bnrepro.report.budget import OTHERS_CORES, probe_notes  # what qualifies a prediction, as the index says it

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO / "conf" / "experiment"
FULL_CADENCES = 4  # at most this many cadences long: trained once at full length, not fitted
OTHERS_WARN = OTHERS_CORES  # cores other processes kept busy above which a wall time is not measured alone


class ProbeError(Exception):
    """An experiment this probe cannot measure as asked (the message says why)."""


# ---- pure parts: the lengths, the fit, the schedule forcing (tests/test_budget_probe.py) ----


def cadence(plan: dict) -> int:
    """The largest periodic cadence whose work a step count must contain whole: train.eval_every,
    and the probes' *_every where set (0 or null: never, or about 20 per run whatever the length)."""
    return max(c for c in (plan["eval_every"], plan["log_every"], *plan["other_every"]) if c)


def lengths(steps: int, every: int, log_every: int, fractions: tuple[float, float]) -> tuple[int, int] | None:
    """L1 < L2 near fractions of `steps`: L1 a multiple of train.log_every, L2 - L1 a multiple of
    the cadence `every`, L2 >= 2 * L1. Every span of k * every steps holds k periodic evaluations
    (and as many of each probe whose cadence divides it) wherever it starts, and L1, L2 fall alike
    on the final evaluation (L1 = L2 modulo every), so B counts the periodic work exactly; L1
    itself need not be a whole cadence, which keeps a 2,000-step experiment's probes short. None
    when the experiment is short enough to train once at full length (at most FULL_CADENCES
    cadences, or L2 would be half of it or more)."""
    if steps <= FULL_CADENCES * every:
        return None
    first = max(1, round(fractions[0] * steps / log_every)) * log_every
    spans = max(1, round((fractions[1] - fractions[0]) * steps / every), math.ceil(first / every))
    second = first + spans * every
    if 2 * second > steps:
        return None
    return first, second


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """A and B of wall = A + B * steps through two (steps, wall) points."""
    (l1, w1), (l2, w2) = points
    b = (w2 - w1) / (l2 - l1)
    return w1 - b * l1, b


def forced_override(processes: int | None) -> list[str]:
    """The override that makes a probe train on the full-length sweep's schedule: its processes
    (1: this process), or nothing where a named launcher runs the packs whatever the length."""
    return [] if processes is None else [f"train.processes={processes}"]


SCHEDULE_LINE = re.compile(r"(\d+) packs? (?:on (\d+) processes|in this process|on the launcher)")


def schedule_seen(stderr: str) -> tuple[int, int | None] | None:
    """(packs, processes) from the line the sweeper printed (schedule.Schedule.line): processes 1
    for 'in this process', None for a named launcher; None when no such line was printed."""
    match = SCHEDULE_LINE.search(stderr)
    if match is None:
        return None
    packs = int(match.group(1))
    if match.group(2):
        return packs, int(match.group(2))
    return packs, 1 if "in this process" in match.group(0) else None


def parse_fractions(text: str) -> tuple[float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ProbeError(f"--fractions {text!r}: not two numbers, e.g. 0.02,0.04") from None
    if len(values) != 2 or not 0 < values[0] < values[1] < 0.5:
        raise ProbeError(f"--fractions {text!r}: give two fractions of the full length, 0 < L1 < L2 < 0.5")
    return values


# ---- the plan: the full-length sweep as the project's sweeper composes it ----

PLAN_WORKER = """
import json, sys
TARGET, ARGS = sys.argv[1], sys.argv[2:]  # read now: bnrepro train replaces sys.argv
import bnrepro.launch.app  # registers the plugins after Hydra's scan, which re-executes their modules
from hydra_plugins.bnrepro import BnreproSweeper

class Planned(BaseException):
    pass

original = BnreproSweeper._schedule

def capture(self, configs):
    schedule = original(self, configs)
    arm_keys = {k.lstrip("+~") for arm in (self.arms_declared or []) for k in arm}
    param_keys = {str(k).lstrip("+~") for k in (self.params or {})}
    every = lambda c: [c.probes.ics_every, c.probes.landscape_every, c.probes.hist_every or 0]
    json.dump({
        "runs": len(configs),
        "steps": sorted({c.train.steps for c in configs}),
        "run_steps": sum(c.train.steps for c in configs),
        "eval_every": max(c.train.eval_every for c in configs),
        "log_every": max(c.train.log_every for c in configs),
        "other_every": [max(v) for v in zip(*(every(c) for c in configs))],
        "steps_swept": sorted(k for k in arm_keys | param_keys if k == "train.steps"),
        "processes": schedule.processes,
        "groups": schedule.groups,
        "why": schedule.why,
    }, open(TARGET, "w"))
    raise Planned()

BnreproSweeper._schedule = capture
from bnrepro.cli import main
try:
    code = main(["train", *ARGS])
except Planned:
    code = 0
sys.exit(code)
"""


def plan(name: str, extra: list[str], out_dir: Path) -> dict:
    """The full-length sweep of `name`: runs, steps, cadences, and its schedule on this machine,
    from the sweeper itself with its _schedule stopped after choosing (nothing created)."""
    target = out_dir / "plan.json"
    result = subprocess.run(
        [sys.executable, "-c", PLAN_WORKER, str(target), f"+experiment={name}", f"out_dir={out_dir}", *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not target.is_file():
        raise ProbeError(f"composing the sweep failed: {tail(result.stderr or result.stdout)}")
    found = json.loads(target.read_text())
    if found["steps_swept"] or len(found["steps"]) > 1:
        raise ProbeError(
            f"its arms or swept parameters set train.steps ({found['steps']}): a train.steps= override would "
            "select arms or replace the sweep, not shorten it; not probed"
        )
    found["steps"] = found["steps"][0]
    return found


def tail(text: str, lines: int = 6) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"


# ---- one timed `bnrepro train`, with the conditions reproduce.sh records ----


def bnrepro_command() -> list[str]:
    beside = Path(sys.executable).parent / "bnrepro"
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "bnrepro"]


@dataclass
class Timed:
    steps: int
    wall: float
    others: float
    load_before: float
    load_after: float
    diverged: int


def train(name: str, steps: int, overrides: list[str], extra: list[str], plan_: dict, work: Path) -> Timed:
    """Train the sweep at `steps` into `work`, timed; checked to be the planned sweep on the planned schedule."""
    out_dir = work / f"steps{steps}"
    command = [*bnrepro_command(), "train", f"+experiment={name}", f"out_dir={out_dir}", *extra]
    command += [*overrides, f"train.steps={steps}"] if steps != plan_["steps"] else overrides
    log = work / f"steps{steps}.log"
    before = machine.sample()  # load, the machine's and this process's CPU time (bench/load.py)
    with log.open("w") as sink:
        code = subprocess.run(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT).returncode
    after = machine.sample()
    wall = after.wall_s - before.wall_s
    others = machine.others_cores(before, after) or 0.0
    output = log.read_text(errors="replace")
    if code != 0:
        raise ProbeError(f"`bnrepro train` at {steps} steps exited {code}: {tail(output)}")
    expected = (len(plan_["groups"]), plan_["processes"])
    if (seen := schedule_seen(output)) != expected:
        raise ProbeError(
            f"at {steps} steps the sweep trained as {seen} (packs, processes), the full length's schedule is "
            f"{expected}: not comparable"
        )
    summaries = [json.loads(p.read_text()) for p in out_dir.rglob("summary.json")]
    if len(summaries) != plan_["runs"]:
        raise ProbeError(f"at {steps} steps {len(summaries)} runs trained, the full sweep has {plan_['runs']}")
    diverged = sum(1 for s in summaries if s.get("diverged_at") is not None)
    return Timed(steps, wall, others, before.load, load_after=after.load, diverged=diverged)


def schedule_text(plan_: dict, cores: int) -> str:
    processes = plan_["processes"]
    packs = len(plan_["groups"])
    if processes is None:
        return f"{packs} packs, a named launcher"
    if processes == 1:
        return f"{packs} packs, this process"
    return f"{packs} packs, {processes} processes x {max(1, cores // processes)} thread(s)"


def probe(name: str, fractions: tuple[float, float], extra: list[str], cores: int) -> dict:
    """One experiment's row: its plan, its timed lengths, the fit and the prediction."""
    row: dict = {"experiment": name}
    with tempfile.TemporaryDirectory(prefix=f"budget_probe_{name}_") as tmp:
        work = Path(tmp)
        plan_ = plan(name, extra, work)
        row.update(
            steps=plan_["steps"],
            runs=plan_["runs"],
            processes=plan_["processes"],
            packs=len(plan_["groups"]),
            schedule=schedule_text(plan_, cores),
            schedule_why=plan_["why"],
            cadence=cadence(plan_),
        )
        overrides = forced_override(plan_["processes"])
        chosen = lengths(plan_["steps"], row["cadence"], plan_["log_every"], fractions)
        timed = []
        for steps in chosen or (plan_["steps"],):
            print(f"budget_probe: {name}: {steps} steps ...", file=sys.stderr, flush=True)
            timed.append(train(name, steps, overrides, extra, plan_, work))
            t = timed[-1]
            print(f"budget_probe: {name}: {steps} steps: {t.wall:.1f} s (others {t.others:.2f} cores)", file=sys.stderr)
            if t.others > OTHERS_WARN:
                print(
                    f"budget_probe: warning: other processes kept {t.others:.2f} cores busy while {name} trained: "
                    "not measured alone, its wall time is not comparable",
                    file=sys.stderr,
                )
    row["timed"] = [t.__dict__ for t in timed]
    row["others_cores"] = max(t.others for t in timed)
    row["diverged"] = max(t.diverged for t in timed)
    if chosen is None:
        row.update(measured=True, predicted_s=timed[0].wall)
    else:
        a, b = fit([(t.steps, t.wall) for t in timed])
        row.update(measured=False, a_s=a, b_s_per_step=b, predicted_s=a + b * plan_["steps"])
    return row


# ---- output ----


def conditions() -> dict:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")),
        "nproc": os.cpu_count() or 1,
        "cpu": model,
    }


def minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f}"


def markdown(record: dict) -> str:
    c = record["conditions"]
    lines = [
        "# Budget probe: each experiment's full-length wall time on this CPU",
        "",
        f"Measured by `scripts/budget_probe.py` {c['date']} at commit {c['commit'][:10]}"
        f"{' (uncommitted changes)' if c['dirty'] else ''} on {c['nproc']} cores ({c['cpu']}); "
        f"fractions {record['fractions'][0]}, {record['fractions'][1]}; load average {record['load_before']} "
        f"before, {record['load_after']} after; the probe took {minutes(record['probe_s'])} minutes. "
        'What the numbers are and are not: docs/budget.md, "Measured".',
        "",
        "| experiment | steps S | runs | schedule | L1 | wall L1 (s) | L2 | wall L2 (s) | A (s) | B (ms/step) "
        "| predicted full wall (min) | others' cores | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in record["experiments"]:
        if "error" in row:
            lines.append(
                f"| {row['experiment']} | {row.get('steps', '')} | {row.get('runs', '')} | "
                f"{row.get('schedule', '')} | | | | | | | FAILED | | {row['error']} |"
            )
            continue
        t = row["timed"]
        notes = probe_notes(row)
        probe_cols = (
            f"{t[0]['steps']} | {t[0]['wall']:.1f} | | | | "
            if row["measured"]
            else f"{t[0]['steps']} | {t[0]['wall']:.1f} | {t[1]['steps']} | {t[1]['wall']:.1f} | "
            f"{row['a_s']:.1f} | {row['b_s_per_step'] * 1000:.2f} "
        )
        lines.append(
            f"| {row['experiment']} | {row['steps']} | {row['runs']} | {row['schedule']} | {probe_cols}| "
            f"{minutes(row['predicted_s'])} | {row['others_cores']:.2f} | {'; '.join(notes)} |"
        )
    failed = [r["experiment"] for r in record["experiments"] if "error" in r]
    lines += [
        "",
        f"**Total: {minutes(record['total_s'])} minutes** predicted over {len(record['experiments']) - len(failed)} "
        f"experiment(s)" + (f"; failed, not counted: {', '.join(failed)}" if failed else "") + ".",
        "",
    ]
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="budget_probe.py", description=__doc__.split("\n\n")[2], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="experiments (default: every conf/experiment/*.yaml)")
    parser.add_argument("--out", default=str(REPO / "results" / "budget" / "cpu.md"), help="the markdown table")
    parser.add_argument("--fractions", default="0.02,0.04", help="L1 and L2 near these fractions of the full length")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="an override for every experiment (tests)"
    )
    args = parser.parse_args(argv)
    try:
        fractions = parse_fractions(args.fractions)
        known = sorted(p.stem for p in EXPERIMENTS.glob("*.yaml"))
        unknown = [n for n in args.names if n not in known]
        if unknown:
            raise ProbeError(f"no experiment {', '.join(unknown)} (conf/experiment/ has {', '.join(known)})")
        out = Path(args.out)
        if not out.parent.is_dir():
            raise ProbeError(f"--out {out}: no directory {out.parent}")
        if bad := [
            s for s in args.set if "=" not in s or s.lstrip("+~").startswith(("train.steps", "train.processes"))
        ]:
            raise ProbeError(f"--set {bad[0]}: give KEY=VALUE; train.steps and train.processes are the probe's own")
    except ProbeError as e:
        print(f"budget_probe.py: {e}", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    start, load_before = time.monotonic(), machine.sample().load
    if load_before > 1.0:
        print(f"budget_probe: warning: load average {load_before} at the start: measure alone", file=sys.stderr)
    record = {"conditions": conditions(), "fractions": list(fractions), "load_before": load_before, "experiments": []}
    for name in args.names or known:
        try:
            row = probe(name, fractions, args.set, cores)
        except ProbeError as e:
            print(f"budget_probe: {name}: FAILED: {e}", file=sys.stderr)
            row = {"experiment": name, "error": str(e).replace("|", "/")}
        else:
            print(f"budget_probe: {name}: predicted {minutes(row['predicted_s'])} min", file=sys.stderr)
        record["experiments"].append(row)
    record.update(
        load_after=machine.sample().load,
        probe_s=time.monotonic() - start,
        total_s=sum(r["predicted_s"] for r in record["experiments"] if "error" not in r),
    )
    write(out, markdown(record))
    write(out.with_suffix(".json"), json.dumps(record, indent=1) + "\n")
    print(f"budget_probe: wrote {out} and {out.with_suffix('.json')}", file=sys.stderr)
    return 1 if any("error" in r for r in record["experiments"]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
