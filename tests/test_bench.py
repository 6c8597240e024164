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
    from hpsearch.bench import training_flops_per_image
    from hpsearch.core.model import build_model

    config = TrainConfig(widths=widths)
    images = np.random.default_rng(0).normal(size=(64, 32, 32, 3)).astype(np.float32)
    flops = training_flops_per_image(build_model(config, images))
    assert flops == _by_hand(widths)
    if widths == (128, 256, 512):
        assert abs(flops / 1.41e9 - 1) < 0.01  # the figure quoted in issue 8
