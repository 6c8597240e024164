"""Benchmark (not a test): a study's trials per hour with `--workers 1` and with `--workers N`, side by side.

    hpsearch bench --study [--trials K] [--workers N] [--profile cpu|full|smoke] [--data-dir DIR | --synthetic]

Each side is a real `hpsearch study` process on a fresh study in a temporary folder: the same K trials (same
seed, pruning off) of a search space whose parameters leave a trial's cost alone (learning rate and its
schedule), so the two sides do the same work. A side is timed from its start to its end (imports, data, every
trial): what a user waits for. First-epoch (compilation included) and steady-epoch seconds per trial are read
from the epochs the trials stored.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hpsearch.commands.common import profile_choices
from hpsearch.errors import HpsearchError

# learning rate and schedule: every trial trains the same network on the same images for the same epochs
FULL_TRAIN_IMAGES = 50_000  # CIFAR-10's training set, the val hold-out included

SPEC = """
[study]
description = "hpsearch bench --study: parameters that leave a trial's cost alone"
[params]
peak_lr = { type = "float", low = 1e-3, high = 5e-3, log = true }
lr_schedule = { type = "categorical", choices = ["triangular", "one_cycle"] }
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--study",
        action="store_true",
        help="instead: trials/hour of a study with --workers 1 and with --workers N, side by side",
    )
    parser.add_argument(
        "--trials", type=int, default=None, help="with --study: trials on each side (default 4); with --search: see it"
    )
    parser.add_argument(
        "--workers", default="2", help="with --study: N, the workers of the second side (a number or auto; default 2)"
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar=profile_choices(),
        help="with --study: the trials' profile (default: full with a GPU, else cpu; smoke for a quick check)",
    )
    parser.add_argument(
        "--data-dir", help="with --study or --search: folder holding cifar-10-batches-py/ (default as for study)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="with --study: runs of each side, in the order "
        "1 N N 1 1 N ... so that a load that drifts hits both alike (default 1); with --search: see it",
    )
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="with --study or --search: train on generated images of the profile's size, not CIFAR-10",
    )


def run(args) -> int:
    from rich.console import Console

    from hpsearch.core.config import TrainConfig
    from hpsearch.search.workers import parse_workers, visible_gpus

    args.trials = 4 if args.trials is None else args.trials
    args.repeats = 1 if args.repeats is None else args.repeats
    if args.trials < 2 or args.repeats < 1:
        raise HpsearchError("bench --study needs --trials 2 or more and --repeats 1 or more")
    try:
        workers = parse_workers(str(args.workers))
    except ValueError as exc:
        raise HpsearchError(str(exc)) from None
    if workers == 1:
        raise HpsearchError("bench --study compares --workers 1 with --workers N; pass N of 2 or more, or auto")
    profile = args.profile or ("full" if visible_gpus() else "cpu")
    config = TrainConfig.from_profile(profile)
    images = config.train_size or FULL_TRAIN_IMAGES - config.val_size  # the full profile trains on all the rest
    console = Console()
    with tempfile.TemporaryDirectory(prefix="hpsearch-bench-study-") as tmp:
        data_dir = synthetic_data_dir(Path(tmp) / "data", config) if args.synthetic else args.data_dir
        (Path(tmp) / "bench.toml").write_text(SPEC)
        console.print(
            f"bench --study: {args.trials} trials of the {profile} profile ({config.epochs} epochs, "
            f"{images} images), {'synthetic images' if args.synthetic else 'CIFAR-10'}, "
            f"--workers 1 and --workers {workers}, {args.repeats} run(s) each",
            markup=False,
            highlight=False,
        )
        runs = {1: [], workers: []}
        for i in range(args.repeats):
            for n in (1, workers) if i % 2 == 0 else (workers, 1):
                runs[n].append(_side(Path(tmp) / f"run{i}", n, args, profile, data_dir, console))
    print_results([_pool(runs[1]), _pool(runs[workers])], console)
    return 0


def synthetic_data_dir(folder: Path, config) -> str:
    """Generated CIFAR-10-shaped batches of `config`'s sizes under folder/cifar-10-batches-py; returns the path."""
    from hpsearch.core.data import write_synthetic_cifar10

    images = config.train_size or FULL_TRAIN_IMAGES - config.val_size
    return str(
        write_synthetic_cifar10(folder / "cifar-10-batches-py", images + config.val_size, config.test_size or 10_000)
    )


def study_argv(tmp: Path, workers, args, profile: str, data_dir: str | None) -> list[str]:
    """The `hpsearch study` command line of one side: this benchmark's spec and options, the backend and the
    compilation cache it was given."""
    argv = [
        sys.executable,
        "-m",
        "hpsearch.cli",
        "study",
        "--spec",
        str(tmp.parent / "bench.toml"),
        "--profile",
        profile,
        "--trials",
        str(args.trials),
        "--no-prune",
        "--out",
        str(tmp / f"workers-{workers}"),
        "--study-name",
        "bench",
        "--workers",
        str(workers),
    ] + (["--data-dir", data_dir] if data_dir else [])
    if getattr(args, "backend", None):
        argv += ["--backend", args.backend]
    if getattr(args, "cache_dir", None):
        argv += ["--cache-dir", args.cache_dir]
    return argv


def _side(tmp: Path, workers, args, profile: str, data_dir: str | None, console) -> dict:
    """One `hpsearch study` run, timed; what its trials stored."""
    from hpsearch.record.storage import load_study
    from hpsearch.record.trials import epoch_rows

    out = tmp / f"workers-{workers}"
    argv = study_argv(tmp, workers, args, profile, data_dir)
    out.mkdir(parents=True)
    log = out / "log.txt"
    start = time.perf_counter()
    with open(log, "w") as handle:
        code = subprocess.run(
            argv, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "120"}
        ).returncode
    seconds = time.perf_counter() - start
    if code:
        raise HpsearchError(
            f"the --workers {workers} study failed (exit {code}): "
            f"{' | '.join(log.read_text().strip().splitlines()[-3:])}"
        )
    picked = re.search(r"^(\d+) workers?\b", log.read_text(), re.MULTILINE)  # what --workers auto picked
    study = load_study(str(out / "studies" / "bench.journal"), "bench")
    rows = {t.number: epoch_rows(t) for t in study.trials if t.state.is_finished()}
    trials = [t for t in study.trials if rows.get(t.number)]
    first = [rows[t.number][0]["seconds"] for t in trials]
    steady = [statistics.median(e["seconds"] for e in rows[t.number][1:]) for t in trials if len(rows[t.number]) > 1]
    side = {
        "workers": workers,
        "seconds": [seconds],
        "trials": [len(trials)],
        "first": first,
        "steady": steady,
        "trial_seconds": [t.user_attrs["train_seconds"] for t in trials if t.user_attrs.get("train_seconds")],
        "label": picked.group(1) if workers == "auto" and picked else str(workers),
    }
    console.print(
        f"  --workers {workers}: {len(trials)} trials in {seconds:.0f} s ({time.strftime('%H:%M')})",
        markup=False,
        highlight=False,
    )
    return side


def _pool(runs: list[dict]) -> dict:
    """One side's runs together: every run's trials and wall seconds (paired), every trial's epochs."""
    pooled = dict(runs[0])
    for key in ("trials", "seconds", "first", "steady", "trial_seconds"):
        pooled[key] = [v for run in runs for v in run[key]]
    return pooled


def _spread(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def print_results(sides: list[dict], console) -> None:
    from rich.table import Table

    table = Table(
        title="Study throughput, one worker vs several: median (min-max) over runs, and per trial over every trial"
    )
    for column in ("workers", "trials", "wall s", "trials/h", "first epoch s", "steady epoch s", "train s/trial"):
        table.add_column(column, justify="right", overflow="fold")  # a narrow or piped console: wrap, never cut
    for side in sides:
        per_hour = [n * 3600 / s for n, s in zip(side["trials"], side["seconds"])]  # each run's own
        side["per_hour"] = statistics.median(per_hour)
        table.add_row(
            side["label"],
            str(sum(side["trials"])),
            _spread(side["seconds"], 0),
            _spread(per_hour, 1 if max(per_hour) < 100 else 0),  # a cpu-profile study runs about 10 an hour
            _spread(side["first"]),
            _spread(side["steady"]),
            _spread(side["trial_seconds"]),
        )
    console.print(table)
    one, many = sides
    console.print(
        f"--workers {many['label']} / --workers 1: [bold]{many['per_hour'] / one['per_hour']:.2f}x[/] trials/hour"
    )
