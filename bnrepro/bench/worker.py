"""`python -m bnrepro.bench.worker TASK_JSON`: one bnrepro pack trained in a process of its own,
for the rows that run several at once (bench/procs.py's protocol: ready, wait, report).
TASK: {"overrides": [...], "runs": K, "experiment": name}; the configs are composed before
it says ready, so the processes' timings start together at train_runs."""

from __future__ import annotations

import json
import sys
import time

from .loops import pack_configs, train_pack
from .reference import ready_then_wait


def main(task: dict) -> None:
    cfgs = pack_configs(task["overrides"], task["runs"], task["experiment"])
    ready_then_wait()
    began = time.monotonic()
    summary = train_pack(cfgs)
    start = began + summary["setup_time_s"]  # the summary's timing starts after setting up
    print(
        json.dumps({"steps": summary["steps_done"], "start": start, "end": start + summary["wall_time_s"]}), flush=True
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
