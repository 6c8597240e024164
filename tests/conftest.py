"""Shared fixtures: a tiny synthetic CIFAR-format folder (never the real data set), and each test starting
from the same global Keras state, so that the suite passes in any order (pytest -p randomly)."""

import os
import sys

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


@pytest.fixture(scope="session")
def _cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("compilation-cache")


@pytest.fixture(autouse=True)
def _no_home_cache(monkeypatch, _cache_root):
    """Commands keep compiled programs under $HPSEARCH_CACHE_DIR: a session folder, not the user's cache
    (one for the whole session: JAX keeps the folder it was given for the rest of the process)."""
    monkeypatch.setenv("HPSEARCH_CACHE_DIR", str(_cache_root))


@pytest.fixture(autouse=True)
def _no_real_data(monkeypatch, tmp_path):
    """Keep tests away from a real CIFAR-10 in the Keras cache or $HPSEARCH_DATA_DIR."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("HPSEARCH_DATA_DIR", raising=False)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Keras keeps process-global state that training changes: the dtype policy (train() sets mixed
    precision), the random seeds and the session's layer-name counters. Every test starts from float32,
    seed 0 and an empty session, whatever ran before it (a test that loads Keras first finds its defaults).
    Tests that never load Keras do not pay for importing it."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.config.set_dtype_policy("float32")
        keras.backend.clear_session(free_memory=False)  # free_memory runs gc.collect(): slow, not needed here
        keras.utils.set_random_seed(0)


@pytest.fixture(autouse=True)
def _no_remembered_secrets():
    """record.urls remembers every secret it parses, for the rest of the process (what cli.py masks in all it
    prints): each test starts with none, so one test's password does not mask another's text."""
    from hpsearch.record import urls

    urls.forget()
