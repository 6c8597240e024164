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
    convs = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.name != "whitening_conv"
    ]
    assert [c.filters for c in convs] == [128, 128, 256, 256, 512, 512]
    assert all(not c.use_bias and c.kernel_size == (3, 3) and c.padding == "same" for c in convs)


@pytest.mark.parametrize("p, widths", [(1, (8, 16, 16)), (3, (8, 16, 32)), (4, (16, 16, 16))])
def test_widths_and_patch_size_come_from_the_config(p, widths):
    model = build_model(TrainConfig(whitening_patch_size=p, widths=widths), IMAGES)
    assert model.get_layer("whitening_conv").output.shape == (None, 33 - p, 33 - p, 6 * p * p)
    assert model.output.shape == (None, 10)
    convs = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.name != "whitening_conv"
    ]
    assert [c.filters for c in convs] == [w for w in widths for _ in range(2)]  # both convs of each stage


def test_aptx_values():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0], np.float32)
    assert np.allclose(keras.ops.convert_to_numpy(aptx(x)), (1 + np.tanh(x)) * x / 2, atol=1e-6)


def test_saved_model_loads_in_safe_mode(tmp_path):
    model = build_model(TrainConfig(widths=(8, 8, 8)), IMAGES)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert np.allclose(loaded.predict(IMAGES[:4], verbose=0), model.predict(IMAGES[:4], verbose=0), atol=1e-6)


# The original's summary table, row for row: layer (type), output shape, parameters.
ORIGINAL_SUMMARY = [
    ("image", "InputLayer", (None, 32, 32, 3), 0),
    ("whitening_conv", "Conv2D", (None, 31, 31, 24), 312),
    ("aptx_after_whitening", "Activation", (None, 31, 31, 24), 0),
    ("conv2d", "Conv2D", (None, 31, 31, 128), 27_648),
    ("max_pooling2d", "MaxPooling2D", (None, 15, 15, 128), 0),
    ("batch_normalization", "BatchNormalization", (None, 15, 15, 128), 512),
    ("activation_1", "Activation", (None, 15, 15, 128), 0),
    ("conv2d_1", "Conv2D", (None, 15, 15, 128), 147_456),
    ("batch_normalization_1", "BatchNormalization", (None, 15, 15, 128), 512),
    ("activation_2", "Activation", (None, 15, 15, 128), 0),
    ("conv2d_2", "Conv2D", (None, 15, 15, 256), 294_912),
    ("max_pooling2d_1", "MaxPooling2D", (None, 7, 7, 256), 0),
    ("batch_normalization_2", "BatchNormalization", (None, 7, 7, 256), 1_024),
    ("activation_3", "Activation", (None, 7, 7, 256), 0),
    ("conv2d_3", "Conv2D", (None, 7, 7, 256), 589_824),
    ("batch_normalization_3", "BatchNormalization", (None, 7, 7, 256), 1_024),
    ("activation_4", "Activation", (None, 7, 7, 256), 0),
    ("conv2d_4", "Conv2D", (None, 7, 7, 512), 1_179_648),
    ("max_pooling2d_2", "MaxPooling2D", (None, 3, 3, 512), 0),
    ("batch_normalization_4", "BatchNormalization", (None, 3, 3, 512), 2_048),
    ("activation_5", "Activation", (None, 3, 3, 512), 0),
    ("conv2d_5", "Conv2D", (None, 3, 3, 512), 2_359_296),
    ("batch_normalization_5", "BatchNormalization", (None, 3, 3, 512), 2_048),
    ("activation_6", "Activation", (None, 3, 3, 512), 0),
    ("max_pooling2d_3", "MaxPooling2D", (None, 1, 1, 512), 0),
    ("flatten", "Flatten", (None, 512), 0),
    ("dense", "Dense", (None, 10), 5_130),
]


def _summary_rows(text: str) -> list[tuple[str, ...]]:
    """The table rows of a printed summary; a row that wraps over several lines is joined back."""
    rows, cells = [], None
    for line in text.splitlines():
        if line.startswith("│"):
            parts = [c.strip() for c in line.strip().strip("│").split("│")]
            cells = parts if cells is None else [f"{a} {b}".strip() for a, b in zip(cells, parts)]
        elif line.startswith(("├", "└")) and cells is not None:
            rows.append(tuple(cells))
            cells = None
    return rows


def test_the_printed_summary_is_the_originals_row_for_row():
    build_model(TrainConfig(), IMAGES)  # a second build must not shift the names
    lines = []
    build_model(TrainConfig(), IMAGES).summary(print_fn=lambda line, **_: lines.append(line), line_length=80)
    text = "\n".join(lines)
    assert _summary_rows(text) == [
        (f"{name} ({kind})", str(shape), f"{params:,}") for name, kind, shape, params in ORIGINAL_SUMMARY
    ]
    assert sum(p for *_, p in ORIGINAL_SUMMARY) == 4_611_394
    assert "Total params: 4,611,394" in text
