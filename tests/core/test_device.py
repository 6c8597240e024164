import sys

import pytest
from rich.console import Console

from hpsearch.commands.common import warn_if_slow
from hpsearch.core import device
from hpsearch.core.config import TrainConfig


def test_cpu_defaults_are_the_measured_ones(monkeypatch):
    name = device.backend()
    for has_bf16 in (True, False):
        monkeypatch.setattr(device, "cpu_has_bf16", lambda has=has_bf16: has)
        chosen = device.setup(TrainConfig())
        assert chosen.kind == "CPU" and chosen.backend == name  # CI and the tests have no GPU
        bf16 = has_bf16 and name in ("tensorflow", "torch")  # JAX's CPU convolutions: float32 (README)
        assert chosen.precision == ("mixed_bfloat16" if bf16 else "float32")
        assert chosen.jit_compile is (name == "jax")  # XLA only where the backend needs it
        assert str(chosen).startswith("CPU: ") and f"({name}, " in str(chosen)
    device.reset_state()


def test_cpu_has_bf16_reads_the_flags(tmp_path):
    flags = tmp_path / "cpuinfo"
    flags.write_text("flags\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert device.cpu_has_bf16(flags)
    flags.write_text("flags\t: fpu avx2 avx512f\n")
    assert not device.cpu_has_bf16(flags)
    assert not device.cpu_has_bf16(tmp_path / "missing")


def test_explicit_settings_win():
    chosen = device.setup(TrainConfig(jit_compile=True, precision="float32"))
    assert chosen.jit_compile is True and chosen.precision == "float32"
    assert str(chosen).endswith(
        f"({chosen.backend}, {'torch.compile' if chosen.backend == 'torch' else 'XLA'}, float32)"
    )
    device.reset_state()


def test_choose_backend_refuses_unknown_missing_and_switched_backends(monkeypatch):
    with pytest.raises(device.BackendError, match="unknown backend 'theano'; choose one of: tensorflow, jax, torch"):
        device.choose_backend("theano")
    monkeypatch.setattr(device, "is_installed", lambda name: False)
    with pytest.raises(device.BackendError, match=r"'jax' is not installed; pip install 'hpsearch\[jax\]'"):
        device.choose_backend("jax")
    monkeypatch.setattr(device, "is_installed", lambda name: True)
    import keras  # noqa: F401  (this process already runs on a backend)

    other = next(b for b in device.BACKENDS if b != device.backend())
    with pytest.raises(device.BackendError, match=f"already running on '{device.backend()}'"):
        device.choose_backend(other)
    monkeypatch.setenv("KERAS_BACKEND", device.backend())
    assert device.choose_backend(None) == device.backend()  # KERAS_BACKEND is honoured


def test_the_backend_is_chosen_before_keras_loads(monkeypatch):
    """The command line parses without importing Keras, so --backend can still take effect."""
    import subprocess

    code = (
        "import sys; from hpsearch import cli; cli.build_parser().parse_args(['study', '--backend', 'jax']); "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))"
    )
    import os
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


def test_full_profile_on_cpu_says_it_takes_hours_and_names_the_cpu_profile():
    console = Console(record=True, width=200)
    warn_if_slow(console, "full", "CPU")
    text = console.export_text()
    assert "hours" in text and "--profile cpu" in text
    quiet = Console(record=True, width=200)
    warn_if_slow(quiet, "full", "GPU")
    warn_if_slow(quiet, "cpu", "CPU")
    assert quiet.export_text() == ""


@pytest.mark.tf_only
def test_keras_tensorflow_datasets_run_without_tf_data_autotune(cifar):
    """tf.data's autotune thread held the end of up to two epochs in three until its next wake-up (10.23 s
    for a 5-7 s epoch on 2 cores); after setup, the datasets Keras makes for fit (a PyDataset: hpsearch's batches)
    and for predict (arrays: the test views) have autotune off, and setting up twice wraps Keras once."""
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    from hpsearch.core.batches import make_batches
    from hpsearch.core.data import normalize, split

    config = TrainConfig.from_profile("smoke", train_size=64, val_size=32)
    device.setup(config)
    wrapped = PyDatasetAdapter.get_tf_dataset
    device.setup(config)
    assert PyDatasetAdapter.get_tf_dataset is wrapped
    splits = split(cifar, config)
    batches = make_batches(splits.train, splits.mean, splits.std, config, training=True)
    images = normalize(splits.val.images, splits.mean, splits.std)
    made = [
        PyDatasetAdapter(batches, shuffle=False).get_tf_dataset(),
        ArrayDataAdapter(images, batch_size=16).get_tf_dataset(),
    ]
    assert [dataset.options().autotune.enabled for dataset in made] == [False, False]
    first = next(iter(made[0]))[1].numpy()  # still the batches themselves, in their order
    assert (first == batches[0][1]).all()


def test_torch_compile_warnings_are_hidden_unless_verbose():
    """load_quietly (what cli.py runs without --verbose) silences torch._dynamo's recompile-limit warnings."""
    import os
    import subprocess
    import sys

    pytest.importorskip("torch")
    code = (
        "import logging; from hpsearch.core.device import load_quietly; load_quietly(); "
        "print(logging.getLogger('torch._dynamo').getEffectiveLevel())"
    )
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip().splitlines()[-1]) >= 40  # logging.ERROR: warnings dropped
