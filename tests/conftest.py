"""Shared fixtures: a tiny synthetic CIFAR-format folder (never the real data set)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from hpsearch.core.data import load_cifar10, write_synthetic_cifar10  # noqa: E402


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory):
    """A learnable CIFAR-10 stand-in: 600 training and 200 test images in the official file format."""
    return write_synthetic_cifar10(tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py")


@pytest.fixture(scope="session")
def cifar(cifar_dir):
    return load_cifar10(cifar_dir, download=False)


@pytest.fixture(autouse=True)
def _op_determinism_off():
    """TF op determinism is process-global and turns XLA off in Keras; `train` sets it per run, and a test
    that compiles with XLA directly must not inherit it from an earlier test (a no-op on other backends)."""
    from hpsearch.core.device import set_op_determinism
    set_op_determinism(False)


@pytest.fixture(autouse=True)
def _no_real_data(monkeypatch, tmp_path):
    """Keep tests away from a real CIFAR-10 in the Keras cache or $HPSEARCH_DATA_DIR."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("HPSEARCH_DATA_DIR", raising=False)
