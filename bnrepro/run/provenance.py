"""Where a result came from: commit, package versions, device; what a checkpoint records of its writer."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

SOURCE_DIR = Path(__file__).resolve().parents[2]  # the checkout: bnrepro/run/ is two levels down
PACKAGES = ("torch", "hydra-core", "omegaconf", "numpy", "pandas", "tensorboard")


def git_state(source: Path = SOURCE_DIR) -> tuple[str, bool | None]:
    """(commit, dirty) of the source tree: dirty means the tree (all but results/, which
    holds outputs) differs from the commit, new files that git does not ignore included;
    None when that cannot be known. A copy
    without .git (e.g. on a remote GPU) passes them in BNREPRO_COMMIT / BNREPRO_DIRTY
    ("1" or "0"; unset: unknown)."""
    if os.environ.get("BNREPRO_COMMIT"):
        flag = os.environ.get("BNREPRO_DIRTY", "")
        return os.environ["BNREPRO_COMMIT"], {"1": True, "0": False}.get(flag)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    try:
        # results/ holds outputs (a regeneration writes its runs there as it goes), not source
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", ".",
                                 ":(exclude)results"], cwd=source, capture_output=True, text=True, timeout=10,
                                check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return commit, None


def tree_note(dirty: bool | None) -> str:
    """How a commit is qualified in a report: clean, with changes, or unknown."""
    return {True: " (with uncommitted changes)", False: ""}.get(dirty, " (tree state unknown)")


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["torch"] = torch.__version__  # the running build, e.g. 2.14.1+cu130
    return found


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()  # while a group trains: its train.threads (run/cpu.py)
    return f"CPU ({platform.processor() or platform.machine()}, {threads} thread{'' if threads == 1 else 's'})"


def identity(device: torch.device) -> dict:
    """What a checkpoint records of the code and machine that wrote it (checkpoint.py)."""
    commit, dirty = git_state()
    return {"commit": commit, "dirty": dirty, "torch": str(torch.__version__), "device": device.type}
