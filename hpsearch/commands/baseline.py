"""hpsearch baseline: train and evaluate the baseline (or --params) and write its run folder OUT/reports/<run>/."""

from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.markup import escape

from hpsearch.commands.common import (
    add_data_arguments,
    add_out_argument,
    check_writable,
    positive_int,
    read_params,
    warn_if_slow,
    writing,
)
from hpsearch.core.config import TrainConfig
from hpsearch.core.data import load_cifar10
from hpsearch.core.device import backend, cache_in_use, detect, out_of_memory
from hpsearch.errors import HpsearchError
from hpsearch.record.paths import run_dir as run_folder

# The layers that load Keras and its backend (hpsearch.baseline, core.callbacks/model) and the report
# layer (plotly, pandas) are imported inside run(): `hpsearch --help` and argument errors stay instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=positive_int, help="override the profile's number of epochs")
    add_out_argument(parser)
    parser.add_argument("--name", help="run folder name, OUT/reports/NAME/ (default baseline-<profile>-seed<N>-<time>)")
    parser.add_argument("--params", help="JSON file of TrainConfig overrides, e.g. a study's best_params.json")
    parser.add_argument("--summary", action="store_true", help="print the model summary and exit")


def config_from_args(args) -> TrainConfig:
    overrides = read_params(args.params) if args.params else {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    return TrainConfig.from_profile(args.profile, **overrides)


def run(args) -> int:
    console = Console()
    config = config_from_args(args)  # bad profile / params fail here, before Keras loads
    if args.summary:
        return print_summary(config)
    from hpsearch.baseline import run_baseline
    from hpsearch.core.callbacks import TrainingDiverged
    from hpsearch.report.console import ProgressLogger, run_table

    check_writable(args.out)
    if args.name and (run_folder(args.out, args.name) / "trials.csv").exists():  # runs and studies share reports/
        raise HpsearchError(
            f"--name {args.name}: {run_folder(args.out, args.name)} holds a study's reports; pass another --name"
        )
    data = load_cifar10(args.data_dir)
    kind, name = detect()
    console.print(
        f"hpsearch baseline: profile [bold]{args.profile}[/], seed {config.seed}, {config.epochs} epochs, "
        f"data {escape(str(data.source))}, device {kind} ({name}), backend {backend()}, compilation "
        f"cache {escape(str(cache_in_use() or 'none'))}",
        highlight=False,
    )
    warn_if_slow(console, args.profile, kind)
    try:
        with writing(args.out):
            result, run_dir = run_baseline(
                config, data, args.out, args.name, args.profile, on_epoch=ProgressLogger(console, config.epochs)
            )
    except TrainingDiverged as exc:
        raise HpsearchError(f"training diverged: {exc}; lower peak_lr (or pass another --params)") from None
    except Exception as exc:
        if out_of_memory(exc):
            raise HpsearchError(f"{out_of_memory(exc)}; lower batch_size or widths (--params)") from None
        raise
    console.print(run_table(result.to_dict() | {"name": run_dir.name}))
    console.print(
        f"wrote {run_dir}/ (metrics.json, history.csv, best.keras, report.html)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


def print_summary(config) -> int:
    from hpsearch.core.model import build_model

    # the summary needs only shapes; whitening statistics of random images keep it data-free
    images = np.random.default_rng(config.seed).normal(size=(64, 32, 32, 3)).astype(np.float32)
    build_model(config, images).summary()
    return 0
