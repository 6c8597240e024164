"""On-device augmentation (ondevice.py): the same draws as the host pipeline, so the same distribution of
flips and offsets (every offset occurs, about half flipped, every crop a window of the reflect-padded
image), the same pixels for a seed, and a training run that learns with it. Runs on the current backend."""

import numpy as np
from test_batches import MEAN, PAD, STD, _pixels, _source_flip_offset, _split

from hpsearch.core.batches import Batches
from hpsearch.core.config import TrainConfig
from hpsearch.core.ondevice import DeviceAugment, DrawBatches
from hpsearch.core.train import train

SMOKE = TrainConfig.from_profile("smoke")


def _device_epoch(part, batch_size=50, seed=5, epoch=0):
    import keras

    draws = DrawBatches(part, MEAN, STD, batch_size, training=True, seed=seed, flip=True, pad=PAD)
    layer = DeviceAugment(part.images, MEAN, STD, PAD)
    xs, ys = zip(*((layer(x), y) for x, y in (draws.batch(epoch, i) for i in range(len(draws)))))
    return np.concatenate([keras.ops.convert_to_numpy(x) for x in xs]), np.concatenate(ys)


def test_device_batches_are_every_image_once_flipped_about_half_and_cropped_at_every_offset():
    part = _split()
    x, y = _device_epoch(part)
    assert x.dtype == np.float32 and x.shape == (len(part.labels), 32, 32, 3)
    seen = [_source_flip_offset(part, out) for out in _pixels(x)]  # each output is one window of one image
    sources = [i for i, _ in seen]
    assert sorted(sources) == list(range(len(part.labels))) and sources != list(range(len(part.labels)))
    assert np.array_equal(y.argmax(1), part.labels[sources])
    assert 90 < sum(f for _, (f, _, _) in seen) < 160
    assert {(dy, dx) for _, (_, dy, dx) in seen} == {(dy, dx) for dy in range(5) for dx in range(5)}


def test_device_and_host_paths_give_the_same_pixels_for_a_seed_and_epoch():
    part = _split()
    host = Batches(part, MEAN, STD, 50, training=True, seed=5, flip=True, pad=PAD)
    for epoch in (0, 1):
        x, y = _device_epoch(part, seed=5, epoch=epoch)
        hx, hy = zip(*(host.batch(epoch, i) for i in range(len(host))))
        np.testing.assert_allclose(x, np.concatenate(hx), atol=1e-5)
        assert np.array_equal(y, np.concatenate(hy))
    assert not np.allclose(_device_epoch(part, seed=6)[0], _device_epoch(part, seed=5)[0])


def test_the_device_layers_are_built_without_tracing_and_without_an_unbuilt_state_warning():
    import warnings

    from hpsearch.core.model import build_model
    from hpsearch.core.ondevice import device_training

    part = _split()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer, draws = device_training(build_model(SMOKE, part.images), part, MEAN, STD, SMOKE.replace(pad=PAD))
        assert trainer.built and trainer.augment.built
        out = trainer(draws.batch(0, 0)[0])  # a dict batch: augmented on the device, then the network
    assert out.shape[0] == len(draws.picked(0, 0)) and out.shape[1] == 10
    assert not [w for w in caught if "unbuilt state" in str(w.message)]


def _metrics(result):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in result.epochs]


def test_training_on_device_learns_is_deterministic_and_saves_only_the_network(cifar, tmp_path):
    config = SMOKE.replace(augment_on_device=True)
    a = train(config, cifar, out_dir=tmp_path)
    assert "augment on device" in a.device and a.val_accuracy > 0.3  # chance is 0.1
    assert _metrics(train(config, cifar)) == _metrics(a)
    assert a.model.name == "hpsearch_baseline" and not any("train_images" in w.path for w in a.model.weights)
    from hpsearch.core.model import load_model

    assert load_model(tmp_path / "best.keras").count_params() == a.model.count_params()


def test_device_training_wires_the_configs_pad_and_flip_into_its_draws_and_its_layer():
    """device_training (what train() fits on the device path) against the host pipeline of the same config, for
    each pad and flip: the draws and the augmentation layer must both take the config's values."""
    import keras

    from hpsearch.core.model import build_model
    from hpsearch.core.ondevice import device_training

    part = _split()
    for pad in sorted({0, 1, PAD}):  # 1: neither 0 (no crop at all) nor the default (where a dropped value hides)
        for flip in (False, True):
            config = SMOKE.replace(pad=pad, flip=flip, seed=5, batch_size=50)
            trainer, draws = device_training(build_model(config, part.images), part, MEAN, STD, config)
            host = Batches(part, MEAN, STD, 50, training=True, seed=5, flip=flip, pad=pad)
            for i in (0, len(draws) - 1):
                inputs, y = draws.batch(0, i)
                hx, hy = host.batch(0, i)
                got = keras.ops.convert_to_numpy(trainer.augment(inputs))
                np.testing.assert_allclose(got, hx, atol=1e-5, err_msg=f"pad {pad}, flip {flip}, batch {i}")
                assert np.array_equal(y, hy)
