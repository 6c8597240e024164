"""Per-trial fixed cost (benchmark, not a test): how much of a cpu-profile trial is set-up (split,
whitening, model build), compilation (first epoch minus a steady one) and final evaluation, measured on
a shortened run and scaled to the profile's train size and epochs.

    PYTHONPATH=. python benchmarks/fixed_cost.py --data-dir DIR [--backend B] [--train-size 2000] [--profile cpu]
"""

import argparse
import json
import time

parser = argparse.ArgumentParser()
parser.add_argument("--data-dir", required=True)
parser.add_argument("--backend", default=None)
parser.add_argument("--profile", default="cpu")
parser.add_argument("--train-size", type=int, default=2000, help="images per epoch of the shortened run")
parser.add_argument("--augment-on-device", choices=("yes", "no"), default=None)
args = parser.parse_args()

from hpsearch.core.device import choose_backend, use_compilation_cache  # noqa: E402

choose_backend(args.backend)
cache = use_compilation_cache()
from hpsearch.core.config import TrainConfig  # noqa: E402
from hpsearch.core.data import load_cifar10  # noqa: E402
from hpsearch.core.evaluate import evaluate_test  # noqa: E402
from hpsearch.core.train import train  # noqa: E402

profile = TrainConfig.from_profile(args.profile)
place = None if args.augment_on_device is None else args.augment_on_device == "yes"
config = profile.replace(train_size=args.train_size, epochs=3, augment_on_device=place)
data = load_cifar10(args.data_dir, download=False)
start = time.perf_counter()
result = train(config, data)
wall = time.perf_counter() - start
start = time.perf_counter()
evaluate_test(result, data)
evaluation = time.perf_counter() - start
setup = wall - result.train_seconds  # split, whitening, build, compile() call
compile_s = result.first_epoch_seconds - result.steady_epoch_seconds
steady_full = (
    result.steady_epoch_seconds * (profile.train_size or 45000) / args.train_size
)  # val scaled too: an upper bound
trial = setup + compile_s + profile.epochs * steady_full
fixed = setup + compile_s
print(
    json.dumps(
        {
            "device": result.device,
            "cache": str(cache),
            "setup_s": setup,
            "first_epoch_s": result.first_epoch_seconds,
            "steady_epoch_s": result.steady_epoch_seconds,
            "compile_s": compile_s,
            "test_eval_plain_tta_s": evaluation,
            "estimated_trial_s": trial,
            "fixed_fraction_of_trial": fixed / trial,
            "fixed_with_test_eval_fraction": (fixed + evaluation) / (trial + evaluation),
        },
        indent=1,
    )
)
