"""hpsearch baseline: train and evaluate the baseline (or --params) and write its run folder OUT/reports/<run>/."""

from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.markup import escape

from hpsearch.commands.common import (
    add_data_arguments,
    add_out_argument,
    add_tracking_arguments,
    check_writable,
    mlflow_tracking,
    positive_int,
    print_tensorboard,
    read_params_file,
    warn_if_slow,
    writing,
)
from hpsearch.core.config import TrainConfig
from hpsearch.core.data import load_cifar10
from hpsearch.core.device import backend, cache_in_use, detect, out_of_memory
from hpsearch.errors import HpsearchError
from hpsearch.record import keys
from hpsearch.record.paths import run_dir as run_folder
from hpsearch.search.reproduce import Reproduced, params_file_config

# The layers that load Keras and its backend (hpsearch.baseline, core.callbacks/model) and the report
# layer (plotly, pandas) are imported inside run(): `hpsearch --help` and argument errors stay instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser, default_profile=None, default_help="the --params file's profile, else full")
    parser.add_argument("--epochs", type=positive_int, help="override the profile's number of epochs")
    add_out_argument(parser)
    parser.add_argument("--name", help="run folder name, OUT/reports/NAME/ (default baseline-<profile>-seed<N>-<time>)")
    parser.add_argument(
        "--params",
        help="JSON file of TrainConfig overrides, e.g. a study's best_params.json: trains at the study's "
        "profile, or with --profile P re-scaled to P as `hpsearch confirm --profile P` does",
    )
    parser.add_argument("--summary", action="store_true", help="print the model summary and exit")
    add_tracking_arguments(parser)


def config_from_args(args) -> tuple[TrainConfig, str, Reproduced | None]:
    """The run's TrainConfig, its profile, and (for a study's --params file) what it reproduces."""
    if args.params:
        config, profile, reproduced = params_file_config(read_params_file(args.params), args.profile, args.params)
    else:
        profile, reproduced = args.profile or "full", None
        config = TrainConfig.from_profile(profile)
    overrides = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    return config.replace(**overrides), profile, reproduced


def run(args) -> int:
    console = Console()
    config, profile, reproduced = config_from_args(args)  # bad profile / params fail here, before Keras loads
    if args.summary:
        return print_summary(config)
    from hpsearch.baseline import run_baseline, run_name
    from hpsearch.track.tensorboard import RunLog
    from hpsearch.core.callbacks import TrainingDiverged
    from hpsearch.report.console import ProgressLogger, run_table

    check_writable(args.out)
    tracking = mlflow_tracking() if args.mlflow else None  # a missing package: one line, before any training
    if args.name and (run_folder(args.out, args.name) / "trials.csv").exists():  # runs and studies share reports/
        raise HpsearchError(
            f"--name {args.name}: {run_folder(args.out, args.name)} holds a study's reports; pass another --name"
        )
    data = load_cifar10(args.data_dir)
    kind, name = detect()
    console.print(
        f"hpsearch baseline: profile [bold]{profile}[/], seed {config.seed}, {config.epochs} epochs, "
        f"data {escape(str(data.source))}, device {kind} ({name}), backend {backend()}, compilation "
        f"cache {escape(str(cache_in_use() or 'none'))}",
        highlight=False,
    )
    if reproduced is not None:
        console.print(f"{reproduced.describe()}: {args.params}", markup=False, highlight=False, soft_wrap=True)
    warn_if_slow(console, profile, kind)
    name = args.name or run_name(config, profile)
    tracker = None if args.no_tensorboard else RunLog(args.out, name)
    mlflow_run = tracking.RunLog(args.mlflow, name) if tracking else None  # unreachable: one line, here
    callbacks = [*(tracker.callbacks() if tracker else ()), *(mlflow_run.callbacks() if mlflow_run else ())]
    result = None
    try:
        with writing(args.out):
            result, run_dir = run_baseline(
                config,
                data,
                args.out,
                name,
                profile,
                on_epoch=ProgressLogger(console, config.epochs),
                extra={keys.REPRODUCES: reproduced.to_dict()} if reproduced else None,
                callbacks=callbacks,
            )
    except TrainingDiverged as exc:
        raise HpsearchError(f"training diverged: {exc}; lower peak_lr (or pass another --params)") from None
    except Exception as exc:
        if out_of_memory(exc):
            raise HpsearchError(f"{out_of_memory(exc)}; lower batch_size or widths (--params)") from None
        raise
    finally:
        if tracker is not None:
            tracker.finish(_hparams(config, profile, reproduced), result)
        if mlflow_run is not None:
            incomplete = mlflow_run.finish(_hparams(config, profile, reproduced), result)
            if incomplete:
                console.print(f"its MLflow run is incomplete ({incomplete})", markup=False, highlight=False)
    console.print(run_table(result.to_dict() | {"name": run_dir.name}))
    console.print(
        f"wrote {run_dir}/ (metrics.json, history.csv, best.keras, report.html)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if tracker is not None:
        print_tensorboard(console, args.out)
    if mlflow_run is not None:
        mlflow_run.print_where(console)
    return 0


def _hparams(config: TrainConfig, profile: str, reproduced: Reproduced | None) -> dict:
    """The run's HParams: its profile, the fields it set beyond the profile's baseline, what it reproduces."""
    own = TrainConfig.from_profile(profile).to_dict()
    changed = {k: v for k, v in config.to_dict().items() if own[k] != v}
    return {"profile": profile, **changed, **({"reproduces": reproduced.describe()} if reproduced else {})}


def print_summary(config) -> int:
    from hpsearch.core.model import build_model

    # the summary needs only shapes; whitening statistics of random images keep it data-free
    images = np.random.default_rng(config.seed).normal(size=(64, 32, 32, 3)).astype(np.float32)
    build_model(config, images).summary()
    return 0
