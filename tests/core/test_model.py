import keras
import numpy as np
import pytest

from hpsearch.core.activations import aptx
from hpsearch.core.config import TrainConfig
from hpsearch.core.model import build_model

IMAGES = np.random.default_rng(0).normal(size=(64, 32, 32, 3)).astype(np.float32)


def test_baseline_has_the_original_parameter_count_and_shapes():
    model = build_model(TrainConfig(), IMAGES)
    assert model.count_params() == 4_611_394
    assert model.get_layer("whitening_conv").output.shape == (None, 31, 31, 24)
    assert model.get_layer("dense").output.shape == (None, 10)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D) and l.name != "whitening_conv"]
    assert [c.filters for c in convs] == [128, 128, 256, 256, 512, 512]
    assert all(not c.use_bias and c.kernel_size == (3, 3) and c.padding == "same" for c in convs)


@pytest.mark.parametrize("p, widths", [(1, (8, 16, 16)), (3, (8, 16, 32)), (4, (16, 16, 16))])
def test_widths_and_patch_size_come_from_the_config(p, widths):
    model = build_model(TrainConfig(whitening_patch_size=p, widths=widths), IMAGES)
    assert model.get_layer("whitening_conv").output.shape == (None, 33 - p, 33 - p, 6 * p * p)
    assert model.output.shape == (None, 10)


def test_aptx_values():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0], np.float32)
    assert np.allclose(keras.ops.convert_to_numpy(aptx(x)), (1 + np.tanh(x)) * x / 2, atol=1e-6)


def test_saved_model_loads_in_safe_mode(tmp_path):
    model = build_model(TrainConfig(widths=(8, 8, 8)), IMAGES)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert np.allclose(loaded.predict(IMAGES[:4], verbose=0), model.predict(IMAGES[:4], verbose=0), atol=1e-6)
