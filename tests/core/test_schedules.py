import numpy as np

from hpsearch.core.config import TrainConfig
from hpsearch.core.schedules import build_schedule


def _lrs(config, steps_per_epoch=10):
    s = build_schedule(config, steps_per_epoch)
    return np.array([float(s(i)) for i in range(steps_per_epoch * config.epochs)]), s


def test_step_schedule_is_the_originals():
    lrs, _ = _lrs(TrainConfig())
    per_epoch = lrs.reshape(10, 10)
    assert np.allclose(per_epoch[:4], 0.0015) and np.allclose(per_epoch[4:7], 0.0012) and np.allclose(per_epoch[7:], 0.0005)


def test_triangular_and_one_cycle_peak_after_warmup_and_end_low():
    for kind in ("triangular", "one_cycle"):
        lrs, _ = _lrs(TrainConfig(lr_schedule=kind, peak_lr=0.004, warmup_fraction=0.3, final_lr_fraction=0.01))
        assert np.isclose(lrs.max(), 0.004, rtol=1e-3) and abs(int(lrs.argmax()) - 30) <= 1
        assert lrs[0] < 0.0005 and lrs[-1] < 0.0005
        assert np.all(np.diff(lrs[:30]) > 0) and np.all(np.diff(lrs[31:]) <= 1e-9)


def test_scale_multiplies_any_schedule():
    config = TrainConfig(lr_schedule="triangular")
    lrs, s = _lrs(config)
    s.scale.assign(0.25)
    assert np.isclose(float(s(17)), 0.25 * lrs[17])
