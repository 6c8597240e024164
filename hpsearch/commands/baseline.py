"""hpsearch baseline: train and evaluate the baseline (or --params) and write reports/<run>/."""
from __future__ import annotations

import argparse

from hpsearch.commands.common import add_data_arguments, positive_int, read_params, warn_if_slow


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=positive_int, help="override the profile's number of epochs")
    parser.add_argument("--out", default="reports", help="parent folder of the run folder (default reports/)")
    parser.add_argument("--name", help="run folder name (default baseline-<profile>-seed<N>-<time>)")
    parser.add_argument("--params", help="JSON file of TrainConfig overrides, e.g. a study's best_params.json")
    parser.add_argument("--summary", action="store_true", help="print the model summary and exit")


def config_from_args(args):
    from hpsearch.core.config import TrainConfig

    overrides = read_params(args.params) if args.params else {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    return TrainConfig.from_profile(args.profile, **overrides)


def run(args) -> int:
    from rich.console import Console

    console = Console()
    config = config_from_args(args)        # bad profile / params fail here, before Keras loads
    if args.summary:
        return print_summary(config)
    from hpsearch.baseline import run_baseline
    from hpsearch.core.data import load_cifar10
    from hpsearch.core.device import backend, detect

    data = load_cifar10(args.data_dir)
    kind, name = detect()
    console.print(f"hpsearch baseline: profile [bold]{args.profile}[/], seed {config.seed}, {config.epochs} epochs, "
                  f"data {data.source}, device {kind} ({name}), backend {backend()}")
    warn_if_slow(console, args.profile, kind)
    result, run_dir = run_baseline(config, data, args.out, args.name, args.profile, console=console)
    from hpsearch.report.console import run_table
    console.print(run_table(result.to_dict() | {"name": run_dir.name}))
    console.print(f"wrote {run_dir}/ (metrics.json, history.csv, best.keras, report.html)")
    return 0


def print_summary(config) -> int:
    import numpy as np

    from hpsearch.core.model import build_model

    # the summary needs only shapes; whitening statistics of random images keep it data-free
    images = np.random.default_rng(config.seed).normal(size=(64, 32, 32, 3)).astype(np.float32)
    build_model(config, images).summary()
    return 0
