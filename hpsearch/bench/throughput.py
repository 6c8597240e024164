"""Benchmark (not a test): training images/s of the baseline network, on one backend or side by side.

  hpsearch path     the real pipeline with this device's defaults (what `train` runs: host or on-device
                    augmentation, precision, compilation)
  bare step         the same model's `train_on_batch` on one fixed batch: the ceiling for the pipeline
  plain fit         `model.fit` on in-memory arrays, float32, Adam, no augmentation
  other precision   the hpsearch path at the other precision (float32 <-> mixed_bfloat16): the evidence
                    for the device's default precision
  compiled forced   the hpsearch path with jit_compile=True (XLA; on PyTorch, torch.compile, whose first
                    compile on a CPU takes minutes) where the default is without it (the evidence
                    for the CPU default)
  other augment     the hpsearch path with the augmentation on the other side (host <-> device, ondevice.py):
                    the evidence for the device's default placement
  matmul            this machine's matrix-multiply rate at the training precision (two square matrices,
                    keras.ops.matmul), measured in the same rounds: the physical limit the step is held to,
                    as images/s x the network's training FLOPs per image (training_flops_per_image)

    hpsearch bench [--backend B] [--images N] [--batch-size B] [--rounds R]

The paths take turns in each round, so a load that drifts over the run hits all alike; every figure is
printed as min / median / max over the rounds, the ratios per round (paths timed side by side).
On TensorFlow every path, the plain fit included, runs with tf.data's autotune off (device.setup: its
end-of-epoch stall, README "Speed"), so the ratios compare pipelines and precisions, not the stall.

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

PATHS = {
    "hpsearch_path": "hpsearch path (what train runs: this device's pipeline, precision and compilation)",
    "bare_step": "bare training step (same model, one fixed batch)",
    "plain_fit": "plain model.fit (float32, arrays, no augmentation)",
    "other_precision": "hpsearch path at the other precision",
    "xla_path": "hpsearch path with jit_compile forced",
    "other_augment": "hpsearch path, augmentation on the other side (host <-> device)",
}
MATMUL_SIZE = 2048  # 17 GFLOP a product: tens of ms on a CPU, enough to time
TRAINING_PASSES = 3  # a training step ~ 3 forward passes: forward, input and weight gradients


def training_flops_per_image(model) -> float:
    """FLOPs to train on one image, from the layers' shapes: 2 per multiply-add of each convolution and
    dense layer (output positions x kernel size), times TRAINING_PASSES. Pooling, normalisation and
    activations are left out (a few per cent). TrainConfig() gives about 1.41 GFLOP."""
    macs = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        positions = int(np.prod(layer.output.shape[1:-1])) if len(layer.output.shape) > 2 else 1
        macs += positions * int(np.prod(kernel.shape))
    return 2.0 * TRAINING_PASSES * macs


def matmul_timer(precision: str, size: int = MATMUL_SIZE, repeats: int = 8):
    """(a function that runs `repeats` products of two size x size matrices at the compute dtype of
    `precision` and waits for them, the FLOPs it does)."""
    import keras
    from keras import ops

    dtype = keras.mixed_precision.DTypePolicy(precision).compute_dtype
    a = keras.random.normal((size, size), seed=1, dtype=dtype)
    b = keras.random.normal((size, size), seed=2, dtype=dtype)

    def run():
        total = None
        for _ in range(repeats):
            c = ops.matmul(a, b)
            total = c[0, 0] if total is None else total + c[0, 0]  # each product used: none can be skipped
        ops.convert_to_numpy(
            ops.cast(total, "float32")
        )  # waits for the device (JAX and torch on a GPU run asynchronously)

    return run, 2.0 * size**3 * repeats


def _spread(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


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
    from hpsearch.core.ondevice import device_training
    from hpsearch.core.train import compile_model

    steps = images // batch_size
    n = steps * batch_size
    config = TrainConfig(train_size=n, val_size=100, batch_size=batch_size, epochs=epochs)
    splits = split(_synthetic(n), config)
    x = normalize(splits.train.images, splits.mean, splits.std)
    y = keras.utils.to_categorical(splits.train.labels, 10)

    def hpsearch_model(device_config):
        """(the network, what fit trains, its training batches, the device) as `train` sets them up."""
        device = devices.setup(device_config)
        model = build_model(device_config, x)
        if device.augment_on_device:
            fitted, batches = device_training(model, splits.train, splits.mean, splits.std, device_config)
        else:
            fitted, batches = model, make_batches(splits.train, splits.mean, splits.std, device_config, training=True)
        compile_model(device_config, fitted, steps, device.jit_compile)
        return (model, fitted, batches), device

    def fit_epochs(built):
        _, fitted, batches = built
        return lambda: fitted.fit(batches, epochs=1, verbose=0)

    def bare_steps(built, device):
        model = built[0]
        if model is not built[1]:  # augmentation on the device: fit trains a DeviceTrainer around the network
            compile_model(config, model, steps, device.jit_compile)
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
    placed, devices_used["other_augment"] = hpsearch_model(
        config.replace(augment_on_device=not default.augment_on_device)
    )
    models["other_augment"] = fit_epochs(placed)
    models["other_augment"]()
    devices_used["plain_fit"] = devices.setup(config.replace(precision="float32"))
    plain = build_model(config, x)
    plain.compile(
        optimizer=keras.optimizers.Adam(1.5e-3),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=devices_used["plain_fit"].jit_compile,
    )
    models["plain_fit"] = lambda: plain.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
    models["plain_fit"]()
    built, device = hpsearch_model(config)  # hpsearch's choice for this device, set up last
    models["hpsearch_path"], models["bare_step"] = fit_epochs(built), bare_steps(built, device)
    matmul, matmul_flops = matmul_timer(device.precision)
    seconds = {name: [] for name in [*PATHS, "matmul"] if name in models or name == "matmul"}
    models["matmul"] = matmul
    for round_ in range(epochs + 1):
        for name in seconds:
            start = time.perf_counter()
            models[name]()
            if round_:  # round 0 compiles
                seconds[name].append(time.perf_counter() - start)
    per_round = {name: [n / t for t in times] for name, times in seconds.items() if name != "matmul"}
    gflops = [matmul_flops / t / 1e9 for t in seconds["matmul"]]
    flops = training_flops_per_image(built[0])
    ratios = {
        "hpsearch_vs_plain": [a / b for a, b in zip(per_round["hpsearch_path"], per_round["plain_fit"])],
        "epoch_vs_bare_step": [a / b for a, b in zip(per_round["hpsearch_path"], per_round["bare_step"])],
        "hpsearch_vs_other_augment": [a / b for a, b in zip(per_round["hpsearch_path"], per_round["other_augment"])],
        "step_of_matmul": [r * flops / 1e9 / g for r, g in zip(per_round["hpsearch_path"], gflops)],
        "bare_step_of_matmul": [r * flops / 1e9 / g for r, g in zip(per_round["bare_step"], gflops)],
    }
    return {
        "backend": device.backend,
        "device": str(device),
        "rounds": epochs,
        "devices": {k: str(v) for k, v in devices_used.items()},
        "images_per_second": {name: _spread(r) for name, r in per_round.items()},
        "matmul_gflops": _spread(gflops),
        "matmul_precision": device.precision,
        "matmul_size": MATMUL_SIZE,
        "training_gflop_per_image": flops / 1e9,
        "ratios": {k: _spread(v) for k, v in ratios.items()},
        "per_round": {**per_round, "matmul_gflops": gflops, **ratios},  # the raw figures, round by round
    }


def run_each_backend(
    images: int, batch_size: int, epochs: int, backends: list[str], cache_dir: str | None = None
) -> list[dict]:
    """run_bench in a fresh process per backend (one after another, so they do not share the CPU)."""
    out = []
    for name in backends:
        env = {**os.environ, "KERAS_BACKEND": name}
        cmd = [
            sys.executable,
            "-m",
            "hpsearch.bench.throughput",
            "--backend",
            name,
            "--json",
            "--images",
            str(images),
            "--batch-size",
            str(batch_size),
            "--rounds",
            str(epochs),
            *(["--cache-dir", cache_dir] if cache_dir else []),
        ]
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
    table = Table(title="Training throughput of the baseline network, images/s (median of the timed epochs; min-max)")
    table.add_column("path")
    for r in ok:
        table.add_column(f"{r['backend']}\n{r['device']}", justify="right")
    for key, label in PATHS.items():
        cells = []
        for r in ok:
            rate = r["images_per_second"].get(key)
            where = r["devices"].get(key)
            cells.append(
                "-"
                if rate is None
                else f"{rate['median']:.1f}\n{rate['min']:.0f}-{rate['max']:.0f}" + (f"\n{where}" if where else "")
            )
        table.add_row(label, *cells)
    console.print(table)
    spread = "median (min-max over {} rounds)"
    for r in ok:
        m, q = r["matmul_gflops"], r["ratios"]
        console.print(
            f"[bold]{r['backend']}[/], {spread.format(r['rounds'])}: matmul {r['matmul_size']}x{r['matmul_size']} "
            f"at {r['matmul_precision']} {_fmt(m, '{:.0f}')} GFLOP/s; training step at "
            f"{r['training_gflop_per_image']:.2f} GFLOP/image: hpsearch path {_fmt(q['step_of_matmul'], '{:.0%}')}"
            f" of it, bare step {_fmt(q['bare_step_of_matmul'], '{:.0%}')}; hpsearch path / plain fit "
            f"{_fmt(q['hpsearch_vs_plain'], '{:.2f}x')}; whole epoch / bare step "
            f"{_fmt(q['epoch_vs_bare_step'], '{:.0%}')}; hpsearch path / other augmentation side "
            f"{_fmt(q['hpsearch_vs_other_augment'], '{:.2f}x')}",
            highlight=False,
        )
    for r in results:
        if "error" in r:
            console.print(f"[red]{r['backend']}: failed: {escape(r['error'])}[/]")


def _fmt(figure: dict, form: str) -> str:
    return f"{form.format(figure['median'])} ({form.format(figure['min'])}-{form.format(figure['max'])})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=1024, help="training images per epoch (default 1024)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=7,
        help="timed rounds (one epoch of each path, one matmul timing) after an untimed warm-up round (default 7)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        dest="rounds",
        action=_DeprecatedRounds,
        help="deprecated: the old name of --rounds (it counted timed rounds, not epochs)",
    )


class _DeprecatedRounds(argparse.Action):
    """--epochs: stores into --rounds and says, once, on stderr, that the name is deprecated."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print("hpsearch: bench --epochs is deprecated (it counts timed rounds): use --rounds", file=sys.stderr)
        setattr(namespace, self.dest, values)


def check_arguments(args) -> None:
    from hpsearch.errors import HpsearchError

    if args.rounds < 1 or args.batch_size < 1 or args.images < args.batch_size:
        raise HpsearchError("bench needs --rounds >= 1, --batch-size >= 1 and --images >= --batch-size")


def bench(args) -> list[dict]:
    """One backend in this process (--backend), else every installed backend in its own process."""
    from hpsearch.core.device import installed_backends

    if args.backend:
        return [run_bench(args.images, args.batch_size, args.rounds)]
    return run_each_backend(args.images, args.batch_size, args.rounds, installed_backends(), args.cache_dir)


def main(argv=None) -> int:
    from hpsearch.commands.common import add_backend_argument
    from hpsearch.core.device import choose_backend, use_compilation_cache
    from hpsearch.errors import HpsearchError

    parser = argparse.ArgumentParser(
        prog="python -m hpsearch.bench.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    add_backend_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line")
    args = parser.parse_args(argv)
    try:
        check_arguments(args)
        if args.backend:
            choose_backend(args.backend)
            use_compilation_cache(args.cache_dir)
        results = bench(args)
    except HpsearchError as exc:  # as cli.main: one line, status 2
        print(f"hpsearch: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
    else:
        print_results(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
