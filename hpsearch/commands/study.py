"""hpsearch study: run (or resume) a search around the baseline, then write its reports.

    hpsearch study --spec studies/future_work.toml --profile cpu --trials 20
    hpsearch study --storage postgresql://user:PASSWORD@db-host/hpsearch --study-name shared   # on every machine
"""
from __future__ import annotations

import argparse

from hpsearch.commands.common import (add_data_dir_argument, non_negative, non_negative_int, positive_int,
                                      reports_dir)
from hpsearch.errors import HpsearchError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hpsearch.core.config import profile_descriptions
    from hpsearch.search.pruning import DEFAULT_MARGIN, DEFAULT_WARMUP_EPOCHS

    profiles = ", ".join(f"{k}: {v}" for k, v in profile_descriptions().items())
    parser.add_argument("--spec", default="studies/default.toml",
                        help="search space, a studies/*.toml file (default studies/default.toml)")
    parser.add_argument("--trials", type=positive_int, default=20,
                        help="the study's total of finished (complete + pruned) trials; re-running resumes "
                             "up to it, failed trials are retried (default 20)")
    parser.add_argument("--profile", default="full", help=f"run size of every trial (default full). {profiles}")
    add_data_dir_argument(parser)
    parser.add_argument("--storage", help="Optuna storage shared by all workers: postgresql://user:PASSWORD@host/db, "
                        "mysql://..., sqlite:///file.db, or a journal file path (default: a journal file "
                        "OUT/<study-name>.journal, safe for several processes on one machine)")
    parser.add_argument("--study-name", help="default <spec>-<profile> (e.g. default-cpu); the same name and "
                        "storage on several machines make them workers of one study")
    parser.add_argument("--engine", choices=("optuna", "keras-tuner"), default="optuna")
    parser.add_argument("--tuner", choices=("hyperband", "bayesian"), default="hyperband",
                        help="keras-tuner's algorithm (with --engine keras-tuner)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0); every trial trains with "
                        "the baseline's own seed, so trials differ only by their parameters")
    parser.add_argument("--timeout", type=float, help="start no new trial after this many seconds")
    parser.add_argument("--out", help="folder of the default journal storage and keras-tuner's "
                        "state (default studies/); reports go to reports/<study>/, or OUT/reports/<study>/ "
                        "when --out is given")
    parser.add_argument("--objectives", default="accuracy", help="accuracy (default), or accuracy,train_seconds "
                        "for a multi-objective (Pareto) study with NSGA-II; pruning does not apply to it")
    parser.add_argument("--prune-margin", type=non_negative, default=DEFAULT_MARGIN,
                        help=f"prune a trial whose val accuracy falls more than this (absolute) below the "
                             f"baseline's at the same epoch (default {DEFAULT_MARGIN})")
    parser.add_argument("--prune-warmup", type=non_negative_int, default=DEFAULT_WARMUP_EPOCHS,
                        help=f"never prune during the first E epochs (default {DEFAULT_WARMUP_EPOCHS})")
    parser.add_argument("--no-prune", action="store_true", help="run every trial to its end")


def run(args) -> int:
    from rich.console import Console

    from hpsearch.core.config import TrainConfig
    from hpsearch.search import optuna_engine as engine
    from hpsearch.search.space import load_spec

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)   # our own lines say what happened to each trial
    console = Console()
    spec = load_spec(args.spec)                      # spec, profile and storage errors come before any training
    base = TrainConfig.from_profile(args.profile)
    objectives = engine.parse_objectives(args.objectives)
    name = args.study_name or engine.default_study_name(spec, args.profile, objectives)
    if args.engine == "keras-tuner":
        if len(objectives) > 1:
            raise HpsearchError("--engine keras-tuner runs single-objective studies only; drop --objectives")
        name = args.study_name or f"{name}-{args.tuner}"
    out = args.out or "studies"
    storage = engine.open_storage(args.storage, study_name=name, out_dir=out)
    where = engine.mask_url(args.storage) if args.storage else str(engine.journal_path(name, out))

    from hpsearch.core.data import load_cifar10
    data = load_cifar10(args.data_dir)
    _print_header(console, args, spec, base, name, where, objectives)
    try:
        if args.engine == "keras-tuner":
            study = _run_keras_tuner(args, spec, data, base, storage, name, out, console)
        else:
            study = engine.run_study(spec, data, trials=args.trials, profile=args.profile, base=base, storage=storage,
                                     study_name=name, out_dir=out, seed=args.seed, timeout=args.timeout,
                                     objectives=objectives, prune_margin=None if args.no_prune else args.prune_margin,
                                     prune_warmup=args.prune_warmup, console=console)
    except KeyboardInterrupt:
        console.print(f"interrupted: finished trials are kept in {where}; run the same command again to resume")
        raise
    _print_top_trials(console, study)
    _write_reports(console, args, name, where, study)
    return 0


def _print_header(console, args, spec, base, name, where, objectives) -> None:
    from hpsearch.core.device import backend, detect

    from hpsearch.commands.common import warn_if_slow

    kind, device = detect()
    if args.engine == "keras-tuner":
        pruning = f"keras-tuner {args.tuner}"
    elif len(objectives) > 1:
        pruning = "none (multi-objective: pruning does not apply)"
    elif args.no_prune:
        pruning = "off"
    else:
        pruning = f"baseline-relative, margin {args.prune_margin}, after epoch {args.prune_warmup}"
    console.print(f"hpsearch study [bold]{name}[/]: {spec.path} ({len(spec.params)} parameter{'s' if len(spec.params) != 1 else ''}), profile "
                  f"{args.profile} ({base.epochs} epochs), {args.trials} trials, objectives {', '.join(objectives)}, "
                  f"pruning {pruning}", markup=True, highlight=False)
    console.print(f"storage {where} · device {kind} ({device}), backend {backend()}", highlight=False)
    warn_if_slow(console, args.profile, kind)


def _run_keras_tuner(args, spec, data, base, storage, name, out, console):
    from hpsearch.search.kt_engine import run_kt_study

    if args.timeout is not None:
        console.print("[yellow]--timeout is not supported by --engine keras-tuner; ignored[/]")
    return run_kt_study(spec, data, base, storage, name, args.trials, tuner=args.tuner, seed=args.seed,
                        out_dir=out, profile=args.profile, console=console)


def _print_top_trials(console, study) -> None:
    from hpsearch.report.console import trials_table
    from hpsearch.report.tables import trials_frame

    console.print(trials_table(trials_frame(study), top=10))


def _write_reports(console, args, name: str, where: str, study) -> None:
    from hpsearch.report import write_study_reports

    storage = args.storage or where              # how the page names the storage (its password masked)
    page = write_study_reports(storage, name, reports_dir(args.out), study=study)
    console.print(f"wrote {page.parent}/ (trials.csv, summary.csv, best_params.json, report.html)")
