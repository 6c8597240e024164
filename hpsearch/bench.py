"""Benchmark (not a test): training images/s of the baseline network, on one backend or side by side.

  hpsearch path     the real pipeline: host batches + augmentation, this device's defaults (what `train` runs)
  bare step         the same model's `train_on_batch` on one fixed batch: the ceiling for the pipeline
  plain fit         `model.fit` on in-memory arrays, float32, Adam, no augmentation
  other precision   the hpsearch path at the other precision (float32 <-> mixed_bfloat16): the evidence
                    for the device's default precision
  XLA forced        the hpsearch path with jit_compile=True (where the default is without; the evidence
                    for the CPU default)

    hpsearch bench [--backend B] [--images N] [--batch-size B] [--epochs E]

Without --backend, each installed backend runs in its own process (Keras takes one backend per process)
and the figures are printed side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

PATHS = {"hpsearch_path": "hpsearch path (host batches + augmentation, defaults)",
         "bare_step": "bare training step (same model, one fixed batch)",
         "plain_fit": "plain model.fit (float32, arrays, no augmentation)",
         "other_precision": "hpsearch path at the other precision",
         "xla_path": "hpsearch path with XLA forced"}


def _synthetic(n: int, seed: int = 0):
    from hpsearch.core.data import Cifar10
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n + 100, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n + 100) % 10
    return Cifar10(images, labels, images[:100], labels[:100], tuple(map(str, range(10))), "synthetic")


def run_bench(images: int = 1024, batch_size: int = 128, epochs: int = 3) -> dict:
    """Images/s of each path on this process's backend: one untimed warm-up epoch each (compilation),
    then `epochs` timed rounds in which the paths take turns, so a load that drifts over the run (other
    processes) hits all alike. Returns {path: {"median", "min", "max"}} plus the devices."""
    import keras

    from hpsearch.core import device as devices
    from hpsearch.core.batches import make_batches
    from hpsearch.core.config import TrainConfig
    from hpsearch.core.data import normalize, split
    from hpsearch.core.model import build_model
    from hpsearch.core.train import compile_model

    steps = images // batch_size
    n = steps * batch_size
    config = TrainConfig(train_size=n, val_size=100, batch_size=batch_size, epochs=epochs)
    splits = split(_synthetic(n), config)
    x = normalize(splits.train.images, splits.mean, splits.std)
    y = keras.utils.to_categorical(splits.train.labels, 10)

    def hpsearch_model(device_config):
        device = devices.setup(device_config)
        model = build_model(device_config, x)
        compile_model(device_config, model, steps, device.jit_compile)
        return model, device

    def fit_epochs(model):
        batches = make_batches(splits.train, splits.mean, splits.std, config, training=True)
        return lambda: model.fit(batches, epochs=1, verbose=0)

    def bare_steps(model):
        return lambda: [model.train_on_batch(x[:batch_size], y[:batch_size]) for _ in range(steps)]

    default = hpsearch_model(config)[1]
    other = "float32" if default.precision != "float32" else "mixed_bfloat16"
    models, devices_used = {}, {}
    # each model is built and set up in turn (setup sets the process-wide policy and determinism)
    if not default.jit_compile:
        xla_model, devices_used["xla_path"] = hpsearch_model(config.replace(jit_compile=True))
        models["xla_path"] = fit_epochs(xla_model)
        models["xla_path"]()
    other_model, devices_used["other_precision"] = hpsearch_model(config.replace(precision=other))
    models["other_precision"] = fit_epochs(other_model)
    models["other_precision"]()
    devices_used["plain_fit"] = devices.setup(config.replace(precision="float32"))
    plain = build_model(config, x)
    plain.compile(optimizer=keras.optimizers.Adam(1.5e-3), loss="categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=devices_used["plain_fit"].jit_compile)
    models["plain_fit"] = lambda: plain.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
    models["plain_fit"]()
    model, device = hpsearch_model(config)              # hpsearch's choice for this device, set up last
    models["hpsearch_path"], models["bare_step"] = fit_epochs(model), bare_steps(model)
    seconds = {name: [] for name in PATHS if name in models}
    for round_ in range(epochs + 1):
        for name in seconds:
            start = time.perf_counter()
            models[name]()
            if round_:                                   # round 0 compiles
                seconds[name].append(time.perf_counter() - start)
    rates = {name: {"median": n / statistics.median(t), "min": n / max(t), "max": n / min(t)}
             for name, t in seconds.items()}
    return {"backend": device.backend, "device": str(device),
            "devices": {k: str(v) for k, v in devices_used.items()}, "images_per_second": rates}


def run_each_backend(images: int, batch_size: int, epochs: int, backends: list[str]) -> list[dict]:
    """run_bench in a fresh process per backend (one after another, so they do not share the CPU)."""
    out = []
    for name in backends:
        env = {**os.environ, "KERAS_BACKEND": name}
        cmd = [sys.executable, "-m", "hpsearch.bench", "--backend", name, "--json", "--images", str(images),
               "--batch-size", str(batch_size), "--epochs", str(epochs)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode or not lines:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            out.append({"backend": name, "error": last})
        else:
            out.append(json.loads(lines[-1]))
    return out


def print_results(results: list[dict], console=None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    ok = [r for r in results if "error" not in r]
    table = Table(title="Training throughput of the baseline network, images/s (median of the timed epochs; "
                        "min-max)")
    table.add_column("path")
    for r in ok:
        table.add_column(f"{r['backend']}\n{r['device']}", justify="right")
    for key, label in PATHS.items():
        cells = []
        for r in ok:
            rate = r["images_per_second"].get(key)
            where = r["devices"].get(key)
            cells.append("-" if rate is None else
                         f"{rate['median']:.1f}\n{rate['min']:.0f}-{rate['max']:.0f}" + (f"\n{where}" if where else ""))
        table.add_row(label, *cells)
    console.print(table)
    for r in ok:
        rates = {k: v["median"] for k, v in r["images_per_second"].items()}
        console.print(f"{r['backend']}: hpsearch path / plain fit [bold]{rates['hpsearch_path'] / rates['plain_fit']:.2f}x[/]; "
                      f"whole epoch / bare step [bold]{rates['hpsearch_path'] / rates['bare_step']:.1%}[/]")
    for r in results:
        if "error" in r:
            console.print(f"[red]{r['backend']}: failed: {escape(r['error'])}[/]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=1024, help="training images per epoch (default 1024)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3,
                        help="timed epochs per path, after one untimed warm-up epoch each (default 3)")


def check_arguments(args) -> None:
    from hpsearch.errors import HpsearchError
    if args.epochs < 1 or args.batch_size < 1 or args.images < args.batch_size:
        raise HpsearchError("bench needs --epochs >= 1, --batch-size >= 1 and --images >= --batch-size")


def bench(args) -> list[dict]:
    """One backend in this process (--backend), else every installed backend in its own process."""
    from hpsearch.core.device import installed_backends
    if args.backend:
        return [run_bench(args.images, args.batch_size, args.epochs)]
    return run_each_backend(args.images, args.batch_size, args.epochs, installed_backends())


def main(argv=None) -> int:
    from hpsearch.commands.common import add_backend_argument
    from hpsearch.core.device import choose_backend, use_compilation_cache

    parser = argparse.ArgumentParser(prog="python -m hpsearch.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    add_backend_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line")
    args = parser.parse_args(argv)
    check_arguments(args)
    if args.backend:
        choose_backend(args.backend)
        use_compilation_cache(args.cache_dir)
    results = bench(args)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
    else:
        print_results(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
