"""Where a result came from: commit, code, package versions, device; what a checkpoint records of its writer."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

SOURCE_DIR = Path(__file__).resolve().parents[2]  # the checkout: bnrepro/run/ is two levels down
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the bnrepro package that runs: a checkout's or a wheel's
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
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    try:
        # results/ holds outputs (a regeneration writes its runs there as it goes), not source
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--", ".", ":(exclude)results"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return commit, None


@functools.lru_cache(maxsize=None)
def code_hash(package: Path = PACKAGE_DIR) -> str:
    """What identifies the code that runs: the SHA-256 of the package's Python source files
    (their paths and contents), whether they are committed, changed, new and untracked, or
    installed from a wheel without git. Two trees at one commit with different uncommitted
    changes get different hashes; so do a wheel and a checkout that differ."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


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
    """What a checkpoint records of the code and machine that wrote it (checkpoint.py); the
    summaries' `attempts` carry it too."""
    commit, dirty = git_state()
    return {
        "commit": commit,
        "dirty": dirty,
        "code": code_hash(),
        "torch": str(torch.__version__),
        "device": device.type,
    }
