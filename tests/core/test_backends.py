"""Every installed backend, each in its own process (Keras takes one backend per process): the same
pixels from the batch pipeline and the TTA views, and a smoke study through the command line."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpsearch.core.device import installed_backends

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = installed_backends()

PIXELS = """
import sys
import numpy as np
from hpsearch.core.device import choose_backend
choose_backend(sys.argv[1])
import keras
from hpsearch.core.augment import draw, apply, tta_views, view
from hpsearch.core.batches import Batches
from hpsearch.core.data import Split
rng = np.random.default_rng(0)
part = Split(rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), np.arange(40) % 10)
mean, std = np.array([0.4, 0.5, 0.6], np.float32), np.array([0.2, 0.25, 0.3], np.float32)
batches = Batches(part, mean, std, 16, training=True, seed=3)
out = {f"train_{e}_{i}": batches.batch(e, i)[0] for e in range(2) for i in range(len(batches))}
x = keras.ops.convert_to_tensor(out["train_0_0"])
draws = draw(np.random.default_rng(1), 16, True, 2)
out["device_augment"] = keras.ops.convert_to_numpy(apply(x, draws, 2, xp=keras.ops))
for flip, dy, dx in tta_views(True, ((0, 0), (1, 1), (-1, -1))):
    out[f"view_{flip}_{dy}_{dx}"] = keras.ops.convert_to_numpy(view(x, flip, dy, dx, xp=keras.ops))
np.savez(sys.argv[2], **out)
"""


def _run(args, tmp_path, backend, timeout=600, hush=True):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if not hush:  # as a user's shell has it
        env.pop("TF_CPP_MIN_LOG_LEVEL")
    return subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs two installed backends")
def test_pipeline_and_tta_views_give_the_same_pixels_on_every_backend(tmp_path):
    arrays = {}
    for backend in BACKENDS:
        proc = _run(["-c", PIXELS, backend, str(tmp_path / f"{backend}.npz")], tmp_path, backend)
        assert proc.returncode == 0, proc.stderr[-2000:]
        arrays[backend] = dict(np.load(tmp_path / f"{backend}.npz"))
    first, *others = BACKENDS
    assert len(arrays[first]) == 6 + 1 + 6
    for backend in others:
        assert arrays[backend].keys() == arrays[first].keys()
        for key, value in arrays[first].items():
            assert np.array_equal(arrays[backend][key], value), f"{key} differs on {backend} and {first}"
    assert not np.array_equal(arrays[first]["train_0_0"], arrays[first]["train_1_0"])  # epochs differ


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_smoke_study_runs_and_records_its_backend(backend, cifar_dir, tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        '[study]\ndescription = "one knob"\n[params]\nlabel_smoothing = { type = "float", low = 0.0, high = 0.2 }\n'
    )
    args = [
        "-m",
        "hpsearch.cli",
        "study",
        "--backend",
        backend,
        "--profile",
        "smoke",
        "--trials",
        "2",
        "--spec",
        str(spec),
        "--data-dir",
        str(cifar_dir),
        "--out",
        str(tmp_path / "out"),
        "--study-name",
        "s",
    ]
    proc = _run(args, tmp_path, "tensorflow" if backend != "tensorflow" else "jax", hush=False)  # --backend wins
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"backend {backend}" in proc.stdout
    # no C++ start-up lines on any backend (Keras's other backends import TensorFlow too, when it is installed)
    assert not [line for line in proc.stderr.splitlines() if line[:5] in ("I0000", "E0000", "W0000")], proc.stderr
    import optuna

    from hpsearch.commands.common import default_storage

    journal = default_storage(tmp_path / "out", "s")  # the study command's own rule: OUT/studies/s.journal
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name="s", storage=storage)
    assert study.user_attrs["backend"] == backend
    assert len([t for t in study.trials if t.state.is_finished()]) >= 2
    other = next((b for b in BACKENDS if b != backend), None)
    if other:  # resuming on another backend is refused
        args[args.index(backend)] = other
        refused = _run(args, tmp_path, other)
        ours = [line for line in refused.stderr.splitlines() if line.startswith("hpsearch:")]
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert ours == [
            f"hpsearch: study 's' was run on backend {backend}; rerun with --backend {backend}, "
            f"or pass a new --study-name"
        ]


def test_a_backend_that_is_not_installed_is_one_line_naming_the_extra(monkeypatch, capsys):
    from hpsearch import cli
    from hpsearch.core import device

    monkeypatch.setattr(device, "is_installed", lambda name: name == "tensorflow")
    code = cli.main(["baseline", "--backend", "torch", "--profile", "smoke"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "hpsearch[torch]" in err[0]
