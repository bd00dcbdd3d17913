import gzip
import pickle

import numpy as np
import pytest
import torch
from conftest import SHARED_MNIST, write_config

from sparsemod.cli import main
from sparsemod.data import DataError, check_splits, load_cifar, load_digits, load_mnist, read_idx


def test_digits_split_is_seeded_and_disjoint():
    a, b = load_digits(0), load_digits(0)
    assert (len(a.train), len(a.val), len(a.test)) == (1257, 270, 270)
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10
    assert (a.val.tensors[0] == b.val.tensors[0]).all()
    assert not (load_digits(1).val.tensors[0] == a.val.tensors[0]).all()


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared MNIST not beside the repo")
def test_mnist_10k_split_from_shared_idx_files():
    data = load_mnist(SHARED_MNIST, 0)
    assert (len(data.train), len(data.val), len(data.test)) == (8000, 1000, 1000)
    assert data.input_shape == (1, 28, 28)
    assert set(data.train.tensors[1].unique().tolist()) == set(range(10))


def test_idx_reader_and_full_mnist_layout(tmp_path):
    def idx(path, array):
        header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
        with gzip.open(path, "wb") as handle:
            handle.write(header + array.astype(np.uint8).tobytes())

    rng = np.random.default_rng(0)
    idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (5100, 2, 2)))
    idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 5100))
    idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (30, 2, 2)))
    idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 30))
    assert read_idx(tmp_path / "t10k-images-idx3-ubyte.gz").shape == (30, 2, 2)
    data = load_mnist(tmp_path, 0)
    assert (len(data.train), len(data.val), len(data.test)) == (100, 5000, 30)


def test_missing_files_name_the_path_and_expected_files(tmp_path):
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, 0)
    with pytest.raises(DataError, match="needs data_dir"):
        load_mnist(None, 0)
    with pytest.raises(DataError, match="data_batch_1, data_batch_2"):
        load_cifar(tmp_path, 0)


def test_cifar_pickles_and_two_class_relabelling(tmp_path):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (10000, 3072), dtype=np.uint8),
                 b"labels": list(rng.integers(0, 10, 10000))}
        with open(tmp_path / name, "wb") as handle:
            pickle.dump(batch, handle)
    data = load_cifar(tmp_path, 0)
    assert (len(data.train), len(data.val), len(data.test)) == (45000, 5000, 10000)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10
    two = load_cifar(tmp_path, 0, two_class=True)
    assert two.num_classes == 2 and set(two.test.tensors[1].unique().tolist()) == {0, 1}


def test_empty_data_is_refused_before_the_search(tmp_path, capsys):
    def idx(path, array):
        header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
        path.write_bytes(header + array.tobytes())

    idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28), np.uint8))
    idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((0,), np.uint8))
    config = write_config(tmp_path, train={"dataset": "mnist", "data_dir": str(tmp_path)})
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "[TRAIN] dataset 'mnist': empty split: train, val, test (train 0, val 0, test 0 examples)" in err
    assert not (tmp_path / "results").exists()


def test_one_empty_split_is_named():
    digits = load_digits(0)
    digits.val = torch.utils.data.Subset(digits.val, [])
    with pytest.raises(DataError, match=r"empty split: val \(train 1257, val 0, test 270 examples\)"):
        check_splits(digits)


def fingerprints(part) -> list[bytes]:
    """One bytes string per example (its input tensor), for TensorDataset and sequence datasets."""
    return [part[i][0].numpy().tobytes() for i in range(len(part))]


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": rng.integers(0, 255, (10000, 3072), dtype=np.uint8),
                         b"labels": list(rng.integers(0, 10, 10000))}, handle)
    return folder


@pytest.mark.parametrize("example, dataset", [
    ("cnn", "digits"), ("cnn", "mnist"), ("cnn", "cifar10"), ("cnn", "cifar2"),
    ("sequence", "synthetic"), ("sequence", "digits_rows"), ("sequence", "mnist_rows"),
])
def test_every_loader_gives_disjoint_train_val_test(example, dataset, request):
    from sparsemod.problem import load_problem

    if "mnist" in dataset and not SHARED_MNIST.is_dir():
        pytest.skip("shared MNIST not beside the repo")
    data_dir = request.getfixturevalue("cifar_dir") if "cifar" in dataset else SHARED_MNIST
    data = load_problem(example).load_data(dataset, data_dir, 0)
    train, val, test = (fingerprints(p) for p in (data.train, data.val, data.test))
    # every example of these data sets is distinct, so a shared input means a shared example
    assert len(set(train + val + test)) == len(train) + len(val) + len(test)
    assert min(len(train), len(val), len(test)) > 0
