"""Benchmark (not a test): training images/s of the baseline network, four ways, in one process.

  hpsearch path   the real pipeline: tf.data, augmentation, the device's defaults (what `train` runs)
  bare step       the same model's step fed one fixed batch: the ceiling for the pipeline
  plain fit       `model.fit` on in-memory arrays, float32, no XLA, no augmentation
  XLA forced      the hpsearch path with jit_compile=True (the evidence for the CPU default)

    python -m hpsearch.bench [--images N] [--batch-size B] [--epochs E]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def _synthetic(n: int, seed: int = 0):
    from hpsearch.core.data import Cifar10
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n + 100, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n + 100) % 10
    return Cifar10(images, labels, images[:100], labels[:100], tuple(map(str, range(10))), "synthetic")


def run_bench(images: int = 1024, batch_size: int = 128, epochs: int = 3) -> dict[str, float]:
    """Images/s of each path: one untimed warm-up epoch each (compilation), then `epochs` timed rounds in
    which the paths take turns, so a load that drifts over the run (other processes) hits all alike."""
    import keras
    import tensorflow as tf

    from hpsearch.core import hardware
    from hpsearch.core.config import TrainConfig
    from hpsearch.core.data import make_dataset, normalize, split
    from hpsearch.core.model import build_model
    from hpsearch.core.train import compile_model

    config = TrainConfig(train_size=images, val_size=100, batch_size=batch_size, epochs=epochs)
    splits = split(_synthetic(images), config)
    x = normalize(splits.train.images, splits.mean, splits.std)
    y = keras.utils.to_categorical(splits.train.labels, 10)
    steps = len(x) // batch_size
    n = steps * batch_size

    def hpsearch_model(device_config):
        device = hardware.setup(device_config)
        model = build_model(device_config, x)
        compile_model(device_config, model, steps, device.jit_compile)
        return model, device

    dataset = make_dataset(splits.train, splits.mean, splits.std, config, training=True).take(steps)
    one_batch = tf.data.Dataset.from_tensors((x[:batch_size], y[:batch_size])).repeat(steps)
    # the XLA model is built and compiled (its first fit) while TF op determinism is off, as in training
    xla_model, xla_device = hpsearch_model(config.replace(jit_compile=True))
    xla_model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    plain_device = hardware.setup(config.replace(jit_compile=False, precision="float32"))
    plain = build_model(config, x)
    plain.compile(optimizer=keras.optimizers.Adam(1.5e-3), loss="categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=False)
    model, device = hpsearch_model(config)                              # hpsearch's choice for this device
    paths = {
        "hpsearch_path": lambda: model.fit(dataset, epochs=1, verbose=0, shuffle=False),
        "bare_step": lambda: model.fit(one_batch, epochs=1, verbose=0, shuffle=False),
        "plain_fit": lambda: plain.fit(x[:n], y[:n], batch_size=batch_size, epochs=1, verbose=0, shuffle=True),
        "xla_path": lambda: xla_model.fit(dataset, epochs=1, verbose=0, shuffle=False),
    }
    seconds = {name: [] for name in paths}
    for round_ in range(epochs + 1):
        for name, run_epoch in paths.items():
            start = time.perf_counter()
            run_epoch()
            if round_:                                   # round 0 compiles
                seconds[name].append(time.perf_counter() - start)
    results = {name: n / statistics.median(times) for name, times in seconds.items()}
    return {"device": str(device), "plain_device": str(plain_device), "xla_device": str(xla_device), **results}


def print_results(results: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"Training throughput of the baseline network: {results['device']}")
    table.add_column("path")
    table.add_column("images/s", justify="right")
    for key, label in (("hpsearch_path", "hpsearch path (tf.data + augmentation, this device's defaults)"),
                       ("bare_step", "bare training step (same model, one fixed batch)"),
                       ("plain_fit", f"plain model.fit ({results['plain_device']})"),
                       ("xla_path", f"hpsearch path with XLA forced ({results['xla_device']})")):
        table.add_row(label, f"{results[key]:.1f}")
    console.print(table)
    console.print(f"hpsearch path / plain fit: [bold]{results['hpsearch_path'] / results['plain_fit']:.2f}x[/]; "
                  f"with XLA forced: {results['xla_path'] / results['plain_fit']:.2f}x")
    console.print(f"whole epoch vs bare step: [bold]{results['hpsearch_path'] / results['bare_step']:.1%}[/] of the "
                  f"bare step's throughput (target >= 85%)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=1024, help="training images per epoch (default 1024)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="timed epochs per path, after one untimed warm-up epoch each (default 3)")


def check_arguments(args) -> None:
    from hpsearch.errors import HpsearchError
    if args.epochs < 1 or args.batch_size < 1 or args.images < args.batch_size:
        raise HpsearchError("bench needs --epochs >= 1, --batch-size >= 1 and --images >= --batch-size")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hpsearch.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(args)
    print_results(run_bench(args.images, args.batch_size, args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
