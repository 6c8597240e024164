"""Lookahead: checked against the update rule computed by hand from an unwrapped inner optimiser."""

import keras
import numpy as np
import pytest

from hpsearch.core.device import reset_state
from hpsearch.core.lookahead import Lookahead

RNG = np.random.default_rng(0)
A = RNG.normal(size=(8, 3)).astype("float32")
B = RNG.normal(size=(8,)).astype("float32")
W0 = RNG.normal(size=(3,)).astype("float32")


def loss_grad(w: np.ndarray) -> np.ndarray:
    """Gradient of 0.5 * ||A w - b||^2: a tiny problem whose gradient depends on the weights."""
    return A.T @ (A @ w - B)


def run(optimizer, steps: int) -> list[np.ndarray]:
    """Weights after each of `steps` updates of `optimizer` on the tiny problem, from W0."""
    w = keras.Variable(W0.copy(), name="w")
    path = []
    for _ in range(steps):
        optimizer.apply([keras.ops.convert_to_tensor(loss_grad(w.numpy()))], [w])
        path.append(w.numpy().copy())
    return path


def test_fast_weights_follow_the_inner_optimizer_then_sync_by_hand():
    k, alpha = 4, 0.5
    plain = run(keras.optimizers.Adam(0.05), k)
    wrapped = Lookahead(keras.optimizers.Adam(0.05), k=k, alpha=alpha)
    looked = run(wrapped, k)
    for step in range(k - 1):  # between syncs: exactly the inner optimiser
        np.testing.assert_allclose(looked[step], plain[step], rtol=1e-6, atol=1e-7)
    expected = W0 + alpha * (plain[k - 1] - W0)  # slow + alpha * (fast_k - slow), slow = W0
    np.testing.assert_allclose(looked[k - 1], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(wrapped.slow_weights[0].numpy(), expected, rtol=1e-6, atol=1e-7)
    assert not np.allclose(looked[k - 1], plain[k - 1])  # the sync really moved the weights


def test_several_cycles_match_a_numpy_reference_with_sgd():
    k, alpha, lr, steps = 3, 0.6, 0.02, 11  # 3 syncs and a partial cycle
    fast = W0.astype("float64").copy()
    slow = fast.copy()
    expected = []
    for step in range(1, steps + 1):
        fast = fast - lr * loss_grad(fast.astype("float32")).astype("float64")
        if step % k == 0:
            slow = slow + alpha * (fast - slow)
            fast = slow.copy()
        expected.append(fast.copy())
    got = run(Lookahead(keras.optimizers.SGD(lr), k=k, alpha=alpha), steps)
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-5, atol=1e-6)


def test_k1_alpha1_is_the_inner_optimizer():
    plain = run(keras.optimizers.Adam(0.05), 6)
    looked = run(Lookahead(keras.optimizers.Adam(0.05), k=1, alpha=1.0), 6)
    np.testing.assert_allclose(np.array(looked), np.array(plain), rtol=1e-6, atol=1e-7)


def test_learning_rate_and_iterations_are_the_inner_optimizers():
    inner = keras.optimizers.Adam(0.01)
    opt = Lookahead(inner, k=2)
    opt.learning_rate = 0.003  # what ReduceLROnPlateau does
    assert float(inner.learning_rate.numpy()) == pytest.approx(0.003)
    run(opt, 3)
    assert int(opt.iterations.numpy()) == int(inner.iterations.numpy()) == 3


def _tiny_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])


def _tiny_data():
    x = RNG.normal(size=(64, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")


@pytest.mark.slow
def test_trains_inside_fit_compiled():
    x, y = _tiny_data()
    model = _tiny_model()
    model.compile(
        Lookahead(keras.optimizers.Adam(0.02), k=4, alpha=0.5),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile="auto",
    )
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0, shuffle=False)  # 4 steps/epoch
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert int(model.optimizer.iterations.numpy()) == 20
    # 20 steps is a multiple of k: the run ends on a sync, so fast == slow
    for fast, slow in zip(model.trainable_variables, model.optimizer.slow_weights):
        np.testing.assert_allclose(fast.numpy(), slow.numpy())


class _SyncChecker(keras.callbacks.Callback):
    """After every batch: at an even count of applied steps (k = 2) the slow weights equal the fast ones,
    at an odd count they lag one inner step behind. Loss scaling may skip steps, so the count is read
    from the optimiser rather than from the batch number."""

    def __init__(self):
        super().__init__()
        self.synced = self.between = 0

    def on_train_batch_end(self, batch, logs=None):
        lookahead = self.model.optimizer.inner_optimizer
        pairs = [(f.numpy(), s.numpy()) for f, s in zip(self.model.trainable_variables, lookahead.slow_weights)]
        if int(lookahead.iterations.numpy()) % 2 == 0:
            for fast, slow in pairs:
                np.testing.assert_allclose(fast, slow)
            self.synced += 1
        else:
            assert not all(np.allclose(fast, slow) for fast, slow in pairs)
            self.between += 1


@pytest.mark.slow
def test_mixed_precision_wraps_lookahead_in_loss_scaling():
    x, y = _tiny_data()
    checker = _SyncChecker()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _tiny_model()
        model.compile(
            Lookahead(keras.optimizers.Adam(0.02), k=2),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile="auto",
        )
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(model.optimizer.inner_optimizer, Lookahead)
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False, callbacks=[checker])
    finally:
        reset_state()
    assert np.isfinite(history.history["loss"]).all()
    applied = int(model.optimizer.inner_optimizer.iterations.numpy())  # steps with finite gradients only
    assert 0 < applied <= 12
    assert checker.synced >= 1 and checker.between >= 1 and checker.synced + checker.between == 12


@pytest.mark.slow
def test_saves_and_loads_with_its_slow_weights(tmp_path):
    x, y = _tiny_data()
    model = _tiny_model()
    model.compile(
        Lookahead(keras.optimizers.Adam(0.02), k=3, alpha=0.4),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # 4 steps: slow != fast now
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    opt = loaded.optimizer
    assert isinstance(opt, Lookahead) and (opt.k, opt.alpha) == (3, 0.4)
    assert isinstance(opt.inner_optimizer, keras.optimizers.Adam)
    assert int(opt.iterations.numpy()) == 4
    for saved, original in zip(opt.slow_weights, model.optimizer.slow_weights):
        np.testing.assert_allclose(saved.numpy(), original.numpy())
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)  # and it keeps training
    assert int(opt.iterations.numpy()) == 8


def test_config_round_trip_and_bad_arguments():
    opt = Lookahead(keras.optimizers.SGD(0.1, momentum=0.9), k=7, alpha=0.25)
    again = Lookahead.from_config(opt.get_config())
    assert (again.k, again.alpha) == (7, 0.25)
    assert again.inner_optimizer.get_config()["momentum"] == 0.9
    with pytest.raises(ValueError, match="k must be"):
        Lookahead(keras.optimizers.Adam(), k=0)
    with pytest.raises(ValueError, match="alpha must be"):
        Lookahead(keras.optimizers.Adam(), alpha=1.5)
    with pytest.raises(TypeError, match="wraps"):
        Lookahead("adam")
