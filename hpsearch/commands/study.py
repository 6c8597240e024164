"""hpsearch study: run (or resume) a search around the baseline, then write its reports.

    hpsearch study --spec future_work --profile cpu --trials 20
    hpsearch study --storage postgresql://user:PASSWORD@db-host/hpsearch --study-name shared   # on every machine

Paths (record.paths, the same --out for every command): the journal OUT/studies/<name>.journal (unless
--storage), keras-tuner's state OUT/studies/keras_tuner/<name>/, the reports OUT/reports/<name>/.
"""
from __future__ import annotations

import argparse
import functools

import optuna
from rich.console import Console

from hpsearch.commands.common import (add_data_dir_argument, add_out_argument, check_writable, default_storage,
                                      non_negative, non_negative_int, positive_int, print_written, study_name,
                                      warn_if_slow, writing)
from hpsearch.core.config import TrainConfig, profile_descriptions
from hpsearch.core.data import load_cifar10
from hpsearch.errors import HpsearchError
from hpsearch.record.paths import safe_name, tuner_dir
from hpsearch.record.storage import mask_url, open_storage
from hpsearch.search import specs
from hpsearch.search.pruning import DEFAULT_MARGIN, DEFAULT_WARMUP_EPOCHS

# The layers that load Keras and its backend (the engines, core.device) and the report layer
# (plotly, pandas) are imported inside run(): `hpsearch --help` and argument errors stay instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    profiles = ", ".join(f"{k}: {v}" for k, v in profile_descriptions().items())
    parser.add_argument("--spec", default=specs.DEFAULT,
                        help=f"search space: a shipped spec by name ({', '.join(specs.shipped_names())}) or a path "
                             f"to a .toml file (default {specs.DEFAULT})")
    parser.add_argument("--trials", type=positive_int, default=20,
                        help="the study's total of finished (complete + pruned) trials; re-running resumes "
                             "up to it, failed trials are retried (default 20)")
    parser.add_argument("--profile", default="full", help=f"run size of every trial (default full). {profiles}")
    add_data_dir_argument(parser)
    parser.add_argument("--storage", help="Optuna storage shared by all workers: postgresql://user:PASSWORD@host/db, "
                        "mysql://..., sqlite:///file.db, or a journal file path (default: a journal file "
                        "OUT/studies/<study-name>.journal, safe for several processes on one machine)")
    parser.add_argument("--study-name", type=study_name,
                        help="default <spec>-<profile> (e.g. default-cpu); the same name and "
                        "storage on several machines make them workers of one study")
    parser.add_argument("--engine", choices=("optuna", "keras-tuner"), default="optuna")
    parser.add_argument("--tuner", choices=("hyperband", "bayesian"), default="hyperband",
                        help="keras-tuner's algorithm (with --engine keras-tuner)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0); every trial trains with "
                        "the baseline's own seed, so trials differ only by their parameters")
    parser.add_argument("--timeout", type=float, help="start no new trial after this many seconds")
    add_out_argument(parser)
    parser.add_argument("--objectives", default="accuracy", help="accuracy (default), or accuracy,train_seconds "
                        "for a multi-objective (Pareto) study with NSGA-II; pruning does not apply to it")
    parser.add_argument("--prune-margin", type=non_negative, default=DEFAULT_MARGIN,
                        help=f"prune a trial whose val accuracy falls more than this (absolute) below the "
                             f"baseline's at the same epoch (default {DEFAULT_MARGIN})")
    parser.add_argument("--prune-warmup", type=non_negative_int, default=DEFAULT_WARMUP_EPOCHS,
                        help=f"never prune during the first E epochs (default {DEFAULT_WARMUP_EPOCHS})")
    parser.add_argument("--no-prune", action="store_true", help="run every trial to its end")


def run(args) -> int:
    from hpsearch.report import write_study_reports
    from hpsearch.report.console import StudyProgress, trials_table
    from hpsearch.report.tables import trials_frame
    from hpsearch.search import optuna_engine as engine

    optuna.logging.set_verbosity(optuna.logging.WARNING)   # our own lines say what happened to each trial
    console = Console()
    spec = specs.load(args.spec)                     # spec, profile and storage errors come before any training
    base = TrainConfig.from_profile(args.profile)
    objectives = engine.parse_objectives(args.objectives)
    name = args.study_name or engine.default_study_name(spec, args.profile, objectives)
    if args.engine == "keras-tuner":
        if len(objectives) > 1:
            raise HpsearchError("--engine keras-tuner runs single-objective studies only; drop --objectives")
        name = args.study_name or f"{name}-{args.tuner}"
    check_writable(args.out)
    where = args.storage or default_storage(args.out, name)
    storage = open_storage(where)

    data = load_cifar10(args.data_dir)
    _print_header(console, args, spec, base, name, mask_url(where), objectives)
    progress = functools.partial(StudyProgress, console=console) if console.is_terminal else None
    try:
        if args.engine == "keras-tuner":
            study = _run_keras_tuner(args, spec, data, base, storage, name, console)
        else:
            study = engine.run_study(spec, data, trials=args.trials, profile=args.profile, base=base, storage=storage,
                                     study_name=name, out=args.out, seed=args.seed, timeout=args.timeout,
                                     objectives=objectives, prune_margin=None if args.no_prune else args.prune_margin,
                                     prune_warmup=args.prune_warmup, console=console, progress=progress)
    except KeyboardInterrupt:
        console.print(f"interrupted: finished trials are kept in {mask_url(where)}; run the same command again "
                      "to resume", markup=False, highlight=False)
        raise
    console.print(trials_table(trials_frame(study), top=10))
    with writing(args.out, kept=f"the finished trials are kept in {mask_url(where)}; `hpsearch report "
                 f"--study-name NAME --storage ... --out DIR` writes their reports"):
        page = write_study_reports(where, name, args.out, study=study)
    if not args.storage:
        console.print(f"wrote {where}", markup=False, highlight=False, soft_wrap=True)
    if args.engine == "keras-tuner":
        console.print(f"wrote {tuner_dir(args.out) / safe_name(name)}/ (keras-tuner's state)", markup=False,
                      highlight=False, soft_wrap=True)
    print_written(console, page.parent)
    return 0


def _print_header(console, args, spec, base, name, where, objectives) -> None:
    from hpsearch.core.device import backend, detect

    kind, device = detect()
    if args.engine == "keras-tuner":
        pruning = f"keras-tuner {args.tuner}"
    elif len(objectives) > 1:
        pruning = "none (multi-objective: pruning does not apply)"
    elif args.no_prune:
        pruning = "off"
    else:
        pruning = f"baseline-relative, margin {args.prune_margin}, after epoch {args.prune_warmup}"
    console.print(f"hpsearch study {name}: {spec.path} ({len(spec.params)} parameter{'s' if len(spec.params) != 1 else ''}), profile "
                  f"{args.profile} ({base.epochs} epochs), {args.trials} trials, objectives {', '.join(objectives)}, "
                  f"pruning {pruning}", markup=False, highlight=False)
    console.print(f"storage {where} · device {kind} ({device}), backend {backend()}", markup=False, highlight=False)
    warn_if_slow(console, args.profile, kind)


def _run_keras_tuner(args, spec, data, base, storage, name, console):
    from hpsearch.search.kt_engine import run_kt_study

    if args.timeout is not None:
        console.print("[yellow]--timeout is not supported by --engine keras-tuner; ignored[/]")
    return run_kt_study(spec, data, base, storage, name, args.trials, tuner=args.tuner, seed=args.seed,
                        out=args.out, profile=args.profile, console=console)
