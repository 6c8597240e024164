"""hpsearch: hyperparameter search around a fast, exact CIFAR-10 baseline.

from hpsearch import TrainConfig, load_cifar10, build_model, train
"""

import os

from hpsearch import interrupts as _interrupts  # standard library only

if _interrupts.is_command():  # before the imports below (numpy): a Ctrl-C meanwhile is one line, exit 130
    _interrupts.starting()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before a backend loads: hide its start-up chatter

from hpsearch.core.config import TrainConfig  # noqa: E402
from hpsearch.core.data import load_cifar10  # noqa: E402

__version__ = "0.3.0"
__all__ = ["TrainConfig", "load_cifar10", "build_model", "train", "__version__"]


def __getattr__(name):  # keras and its backend load only when the model or training is asked for
    if name == "build_model":
        from hpsearch.core.model import build_model

        return build_model
    if name == "train":
        from hpsearch.core.train import train

        return train
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
