"""The bench's FLOPs per training image, against the network's shapes worked out by hand."""

import numpy as np
import pytest

from hpsearch.core.config import TrainConfig


def _by_hand(widths, p=2):
    """Multiply-adds of build_model's layers: whitening conv (valid), per stage conv -> pool 2 -> conv
    (3x3, same), pool 3, dense 10."""
    side, channels = 33 - p, 2 * p * p * 3
    macs = side * side * p * p * 3 * channels
    for width in widths:
        macs += side * side * 9 * channels * width
        side //= 2
        macs += side * side * 9 * width * width
        channels = width
    side //= 3
    return 2 * 3 * (macs + side * side * channels * 10)


@pytest.mark.parametrize("widths", [(128, 256, 512), (8, 16, 16)])
def test_training_flops_per_image_follow_the_layer_shapes(widths):
    from hpsearch.bench.throughput import training_flops_per_image
    from hpsearch.core.model import build_model

    config = TrainConfig(widths=widths)
    images = np.random.default_rng(0).normal(size=(64, 32, 32, 3)).astype(np.float32)
    flops = training_flops_per_image(build_model(config, images))
    assert flops == _by_hand(widths)
    if widths == (128, 256, 512):
        assert abs(flops / 1.41e9 - 1) < 0.01  # the figure quoted in issue 8


def test_the_gpu_check_runs_end_to_end_at_the_smoke_profile(tmp_path, cifar_dir):
    """benchmarks/gpu_check.sh on this CPU at the smoke profile (its self-check): it finds what the commands
    wrote (record/paths.py's rule) and prints every figure it promises. The bench --study part is skipped."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "HPSEARCH_GPU_CHECK_PROFILE": "smoke",
        "HPSEARCH_GPU_CHECK_TRIALS": "2",
        "HPSEARCH_GPU_CHECK_WORKERS": "0",
        "HPSEARCH_GPU_CHECK_OUT": str(tmp_path / "out"),
    }
    done = subprocess.run(
        ["bash", str(root / "benchmarks" / "gpu_check.sh"), str(cifar_dir.parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = done.stdout[done.stdout.index("== GPU check") :]
    assert "baseline (" in summary and "test TTA" in summary and "first epoch (compiles)" in summary
    assert "study: 2 trials" in summary and summary.count("  trial ") == 2
    assert "steady" in summary and "peak GPU memory" in summary
