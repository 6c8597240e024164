"""hpsearch study: run (or resume) a search around the baseline, then write its reports.

    hpsearch study --spec future_work --profile cpu --trials 20
    hpsearch study --storage postgresql://user:PASSWORD@db-host/hpsearch --study-name shared   # on every machine
    hpsearch study --profile cpu --trials 20 --workers auto    # several trials at once on this machine

--workers N / --gpus: this process starts N ordinary workers of the study (search/workers.py), relays their
lines, passes Ctrl-C on to them and writes the reports once they are done.

Paths (record.paths, the same --out for every command): the journal OUT/studies/<name>.journal (unless
--storage), keras-tuner's state OUT/studies/keras_tuner/<name>/, the reports OUT/reports/<name>/.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import time

import optuna
from optuna.trial import TrialState
from rich.console import Console

from hpsearch.commands.common import (
    add_backend_argument,
    add_data_dir_argument,
    add_out_argument,
    add_tracking_arguments,
    check_writable,
    default_storage,
    mlflow_tracking,
    non_negative,
    non_negative_int,
    positive_int,
    print_tensorboard,
    print_written,
    profile_choices,
    study_name,
    tracking_hooks,
    warn_if_slow,
    writing,
)
from hpsearch.core.config import TrainConfig
from hpsearch.core.data import find_cifar10, load_cifar10
from hpsearch.core.device import chosen_backend, load_quietly
from hpsearch.errors import HpsearchError
from hpsearch.interrupts import Interrupted
from hpsearch.record.models import artifact_store
from hpsearch.record.paths import artifact_dir, safe_name, tuner_dir
from hpsearch.record.storage import mask_url, open_storage, storage_failures
from hpsearch.record.trials import best_trial, train_seconds, trial_value
from hpsearch.search import specs
from hpsearch.search.space import check_fits
from hpsearch.search.pruning import DEFAULT_MARGIN, DEFAULT_WARMUP_EPOCHS
from hpsearch.search.strategies import (
    PRUNERS,
    SAMPLERS,
    PrunerChoice,
    check_pruner,
    check_sampler,
    default_sampler,
    resolve_pruner,
)
from hpsearch.search.study import count, default_study_name, max_epochs, parse_objectives, status_line
from hpsearch.search.workers import HANDED_OVER, parse_gpus, parse_workers, plan, run_workers, take_over

DEFAULT_KEEP = 3  # --keep-models: the full-width model is about 18 MB a file (README)

# The layers that load Keras and its backend (the engines, core.device) and the report layer
# (plotly, pandas) are imported inside run(): `hpsearch --help` and argument errors stay instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec",
        default=specs.DEFAULT,
        help=f"search space: a shipped spec by name ({', '.join(specs.shipped_names())}) or a path "
        f"to a .toml file (default {specs.DEFAULT})",
    )
    parser.add_argument(
        "--trials",
        type=positive_int,
        default=20,
        help="the study's total of finished (complete + pruned) trials; re-running resumes "
        "up to it, failed trials are retried (default 20)",
    )
    parser.add_argument(
        "--profile",
        default="full",
        metavar=profile_choices(),
        help="run size of every trial (default full); the profiles are listed below",
    )
    add_data_dir_argument(parser)
    parser.add_argument(
        "--storage",
        help="Optuna storage shared by all workers: postgresql://user:PASSWORD@host/db, "
        "mysql://..., sqlite:///file.db, or a journal file path (default: a journal file "
        "OUT/studies/<study-name>.journal, safe for several processes on one machine)",
    )
    parser.add_argument(
        "--study-name",
        type=study_name,
        help="default <spec>-<profile> (e.g. default-cpu), with -pareto for two objectives and -hyperband or "
        "-bayesian for --engine keras-tuner; the same name and storage on several machines make them workers "
        "of one study",
    )
    parser.add_argument(
        "--engine",
        choices=("optuna", "keras-tuner"),
        default="optuna",
        help="the search engine (default optuna); keras-tuner runs the same spec with Hyperband or "
        "Bayesian optimisation and stores its trials the same way",
    )
    parser.add_argument(
        "--tuner",
        choices=("hyperband", "bayesian"),
        default="hyperband",
        help="keras-tuner's algorithm (with --engine keras-tuner)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="sampler seed (default 0); every trial trains with "
        "the baseline's own seed, so trials differ only by their parameters",
    )
    parser.add_argument("--timeout", type=non_negative, help="start no new trial after this many seconds")
    add_out_argument(parser)
    parser.add_argument(
        "--objectives",
        default="accuracy",
        help="accuracy (default), or accuracy,train_seconds "
        "for a multi-objective (Pareto) study with NSGA-II; pruning does not apply to it",
    )
    parser.add_argument(
        "--sampler",
        choices=(*SAMPLERS, "nsga2"),
        default=None,
        help="how trials are chosen: tpe (default; Optuna's multivariate TPE), random, qmc (scrambled Sobol), "
        "cmaes, gp (Gaussian process, needs PyTorch); multi-objective studies: tpe or nsga2 (their default)",
    )
    parser.add_argument(
        "--pruner",
        choices=PRUNERS,
        default=None,
        help="which trials stop early: asha (default: successive halving, rungs at epochs 1, 3, 9..., chosen by "
        "`hpsearch bench --search`), baseline (behind the baseline's curve by --prune-margin), hyperband, median, "
        "none; a resume without --pruner keeps the study's own",
    )
    parser.add_argument(
        "--prune-floor",
        action="store_true",
        help="with --pruner asha, hyperband or median: also stop a trial the baseline rule would stop",
    )
    parser.add_argument(
        "--prune-margin",
        type=margin_fraction,
        default=DEFAULT_MARGIN,
        help=f"the baseline rule's margin, as a fraction of accuracy: 0.05 = 5 points (default {DEFAULT_MARGIN}); "
        "a trial that far below the baseline at the same epoch is stopped",
    )
    parser.add_argument(
        "--prune-warmup",
        type=non_negative_int,
        default=DEFAULT_WARMUP_EPOCHS,
        help=f"never prune during the first E epochs (default {DEFAULT_WARMUP_EPOCHS})",
    )
    parser.add_argument("--no-prune", action="store_true", help="run every trial to its end (as --pruner none)")
    parser.add_argument(
        "--workers",
        type=parse_workers,
        default=None,
        help="run N trials at a time on this machine, each in its own worker process on the "
        "shared storage, with the CPU cores (and GPU memory) split between them; auto picks "
        "N from the hardware and says why (default 1; with --gpus, one per GPU)",
    )
    parser.add_argument(
        "--gpus",
        type=parse_gpus,
        default=None,
        help="GPU numbers (as nvidia-smi shows them) to spread the workers over, e.g. 0,1; default: every visible GPU",
    )
    add_tracking_arguments(parser)
    parser.add_argument(
        "--keep-models",
        type=non_negative_int,
        default=DEFAULT_KEEP,
        metavar="K",
        help=f"keep the best weights of the top K trials by val accuracy in OUT/artifacts/ (Optuna's artifact "
        f"store; `hpsearch export` writes one out); a trial dropping out of the top K has its file deleted "
        f"(default {DEFAULT_KEEP}; 0 keeps none)",
    )
    parser.add_argument("--worker-number", type=int, default=None, help=argparse.SUPPRESS)  # set by the parent


def margin_fraction(text: str) -> float:
    """--prune-margin: a fraction of accuracy (0.05 = 5 points); 5 is refused rather than read as 500 points."""
    value = non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(
            f"is a fraction of accuracy (0.05 = 5 points), got {text}; for {text} points pass {value / 100:g}"
        )
    return value


def pruner_choice(args, epochs: int) -> PrunerChoice:
    """What --pruner, --no-prune, --prune-floor, --prune-margin and --prune-warmup ask for."""
    return PrunerChoice(
        "none" if args.no_prune else args.pruner, args.prune_floor, args.prune_margin, args.prune_warmup, epochs
    )


def check_strategy(args, spec, objectives) -> None:
    """A sampler or pruner that does not apply: one line, before any training."""
    if args.engine == "keras-tuner":
        if args.sampler is not None or args.pruner is not None or args.prune_floor:
            raise HpsearchError(
                "--sampler, --pruner and --prune-floor choose the Optuna engine's strategy; keras-tuner runs its "
                "own (--tuner hyperband or bayesian): drop them, or use --engine optuna"
            )
        return
    if args.no_prune and args.pruner not in (None, "none"):
        raise HpsearchError(f"--no-prune and --pruner {args.pruner} contradict each other; keep one")
    check_sampler(args.sampler or default_sampler(objectives), spec, objectives)
    if args.no_prune or args.pruner is not None:  # the default (or the resumed study's own) is checked once known
        check_pruner(PrunerChoice("none" if args.no_prune else args.pruner, args.prune_floor), objectives)


def starts_workers(args) -> bool:
    """Whether this process is the parent of --workers/--gpus workers (it then loads no Keras backend)."""
    return args.worker_number is None and (args.gpus is not None or args.workers not in (None, 1))


def run(args) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say what happened to each trial
    console = Console()
    if args.worker_number is not None:
        take_over(args)  # --storage and --mlflow, as its parent's run_workers handed them over
    spec = specs.load(args.spec)  # spec, profile and storage errors come before any training
    base = TrainConfig.from_profile(args.profile)
    objectives = parse_objectives(args.objectives)
    name = args.study_name or default_study_name(spec, args.profile, objectives)
    if args.engine == "keras-tuner":
        if len(objectives) > 1:
            raise HpsearchError("--engine keras-tuner runs single-objective studies only; drop --objectives")
        name = args.study_name or f"{name}-{args.tuner}"
    check_strategy(args, spec, objectives)
    check_fits(spec, base, args.profile)  # a width bound too large for memory: refused before trial 0
    check_writable(args.out)
    asked = starts_workers(args)
    if asked and args.engine == "keras-tuner":
        raise HpsearchError(
            "--engine keras-tuner runs one trial at a time; drop --workers/--gpus, or use --engine optuna"
        )
    if args.mlflow and args.engine == "keras-tuner":
        raise HpsearchError("--mlflow logs the Optuna engine's trials; drop it, or use --engine optuna")
    # the study's MLflow parent run, before any training (an unreachable URI is one line here); a worker finds it
    mlflow_run = mlflow_tracking().StudyRun(args.mlflow, name) if args.mlflow else None
    workers, why = plan(args.workers if args.workers is not None else len(args.gpus), args.gpus) if asked else ([], "")
    parallel = len(workers) > 1 or args.gpus is not None  # --workers auto may pick one: this process is it
    where = args.storage or default_storage(args.out, name)
    storage = open_storage(where)
    if args.engine != "keras-tuner" and not args.no_prune and args.pruner is None:
        # the default, or a resumed study's own: named from here on (the header, and every worker's command)
        args.pruner, args.prune_floor = resolve_pruner(None, args.prune_floor, storage, name, objectives)
        check_pruner(PrunerChoice(args.pruner, args.prune_floor), objectives)
    started = time.monotonic()
    ends = mlflow_run.running() if mlflow_run and args.worker_number is None else contextlib.nullcontext()
    try:
        with ends, storage_failures(storage, where):  # a full disk or a replaced journal mid-study: one line
            if parallel:
                study = _run_workers(
                    args, workers, why, spec, base, storage, name, mask_url(where), objectives, console
                )
            else:
                if asked and not getattr(args, "verbose", False):
                    load_quietly()  # --workers auto picked one worker: this process trains, and cli.py left it unloaded
                study = _run_here(
                    args, why, spec, base, storage, name, mask_url(where), objectives, console, mlflow_run
                )
    except KeyboardInterrupt:
        if args.worker_number is not None:
            raise  # the parent says what happened
        raise Interrupted(
            f"finished trials are kept in {mask_url(where)}; run the same command again to resume"
        ) from None
    if args.worker_number is not None:
        return 0  # the parent writes the reports, once
    from hpsearch.report import write_study_reports
    from hpsearch.report.console import trials_table, verdict_text
    from hpsearch.report.tables import trials_frame

    console.print(trials_table(trials_frame(study), top=10))
    with writing(
        args.out,
        kept=f"the finished trials are kept in {mask_url(where)}; `hpsearch report "
        f"--study-name NAME --storage ... --out DIR` writes their reports",
    ):
        page = write_study_reports(where, name, args.out, study=study)
    if not args.storage:
        console.print(f"wrote {where}", markup=False, highlight=False, soft_wrap=True)
    if args.engine == "keras-tuner":
        console.print(
            f"wrote {tuner_dir(args.out) / safe_name(name)}/ (keras-tuner's state)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    print_written(console, page.parent)
    if not args.no_tensorboard:
        print_tensorboard(console, args.out)
    if mlflow_run:
        mlflow_run.print_where(console)
    console.print(verdict_text(study))  # the last lines: the verdict, in the page's words
    status = _exit_status(study, args, console, time.monotonic() - started)
    return status or (1 if parallel and count(study) < args.trials else 0)  # a worker died short of the total


STOPPED_SHORT = 3  # exit status when the study stopped short of --trials because trials failed


def _exit_status(study, args, console, seconds: float) -> int:
    """0, or STOPPED_SHORT when fewer than --trials finished, none is still running elsewhere, --timeout (if any)
    had not run out, and trials failed: a script can tell a finished study from one that gave up."""
    timed_out = args.timeout is not None and seconds >= args.timeout
    short = count(study) < args.trials and not count(study, (TrialState.RUNNING,)) and not timed_out
    if short and count(study, (TrialState.FAIL,)):
        console.print(
            f"[red]stopped short: {count(study)} of {args.trials} trials finished; failed trials stopped "
            f"the study (see their fail_reason); exit status {STOPPED_SHORT}[/]"
        )
        return STOPPED_SHORT
    return 0


def _resume_state(storage, name: str) -> dict:
    """What the live display starts from on a resume: trials finished, the study-wide best, seconds per finished
    trial, and how many workers (this one plus those with a trial running)."""
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:  # a new study
        return {}
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    best = best_trial(study)
    running = [t for t in study.trials if t.state == TrialState.RUNNING]
    return {
        "done": len(finished),
        "best": trial_value(best) if best else None,
        "durations": tuple(s for s in map(train_seconds, finished) if s is not None),
        "workers": 1 + len(running),
    }


def _run_here(args, why, spec, base, storage, name, where, objectives, console, mlflow_run=None):
    """One worker, in this process (also each worker that a --workers parent starts); `mlflow_run`: the study's
    MLflow parent run (--mlflow), its trials' runs nest under it."""
    from hpsearch.core.device import backend, detect
    from hpsearch.report.console import StudyProgress
    from hpsearch.search import optuna_engine as engine

    data = load_cifar10(args.data_dir)
    if args.worker_number is None:
        kind, device = detect()
        _print_header(console, args, spec, base, name, where, objectives, f"{kind} ({device}), backend {backend()}")
    if why:
        console.print(why, markup=False, highlight=False)
    if args.engine == "keras-tuner":
        return _run_keras_tuner(args, spec, data, base, storage, name, console)
    progress = (
        functools.partial(StudyProgress, console=console, **_resume_state(storage, name))
        if console.is_terminal
        else None
    )
    return engine.run_study(
        spec,
        data,
        hooks=_trial_hooks(args, name, console, spec, mlflow_run),
        scratch=artifact_dir(args.out),
        trials=args.trials,
        profile=args.profile,
        base=base,
        storage=storage,
        study_name=name,
        out=args.out,
        seed=args.seed,
        timeout=args.timeout,
        objectives=objectives,
        sampler=args.sampler,
        pruner=args.pruner,
        prune_floor=args.prune_floor,
        prune_margin=None if args.no_prune else args.prune_margin,
        prune_warmup=args.prune_warmup,
        console=console,
        progress=progress,
    )


def _trial_hooks(args, name: str, console, spec, mlflow_run=None) -> list:
    """What each trial does beside training: keep the top-K models, write TensorBoard logs, log to MLflow."""
    from hpsearch.search.keep import KeepModels  # loads Keras: only once a study runs

    hooks: list = [KeepModels(artifact_store(args.out), args.keep_models, console)] if args.keep_models else []
    return hooks + tracking_hooks(args, args.out, name, console, list(spec.params), mlflow_run)


def _print_header(console, args, spec, base, name, where, objectives, device: str) -> None:
    if args.engine == "keras-tuner":
        strategy = f"keras-tuner {args.tuner}"
    else:
        sampler = args.sampler or default_sampler(objectives)
        pruning = pruner_choice(args, max_epochs(spec, base)).describe()
        if len(objectives) > 1:
            pruning = "none (multi-objective: pruning does not apply)"
        strategy = f"sampler {sampler}, pruning {pruning}"
    console.print(
        f"hpsearch study {name}: {spec.path} ({len(spec.params)} parameter{'s' if len(spec.params) != 1 else ''}), profile "
        f"{args.profile} ({base.epochs} epochs), {args.trials} trials, --objectives {args.objectives}, "
        f"{strategy}",
        markup=False,
        highlight=False,
    )
    console.print(f"storage {where} · device {device}", markup=False, highlight=False)
    warn_if_slow(console, args.profile, device.split(" ")[0])


def _run_keras_tuner(args, spec, data, base, storage, name, console):
    from hpsearch.search.kt_engine import run_kt_study

    if args.timeout is not None:
        console.print("[yellow]--timeout is not supported by --engine keras-tuner; ignored[/]")
    return run_kt_study(
        spec,
        data,
        base,
        storage,
        name,
        args.trials,
        tuner=args.tuner,
        seed=args.seed,
        out=args.out,
        profile=args.profile,
        console=console,
        verbose=bool(getattr(args, "verbose", False)),
    )


def _run_workers(args, workers, why, spec, base, storage, name, where, objectives, console):
    """--workers N / --gpus: start the ordinary workers planned, on the same storage, relay their lines, wait;
    returns the study as they left it. This process loads no backend (the workers each start one, at once,
    instead of after it) and opens the study only to read it at the end."""
    data_dir = find_cifar10(args.data_dir)  # a download, or a missing data set, before any worker
    device = "GPU" if any(w.gpu is not None for w in workers) else "CPU"
    cores = len(os.sched_getaffinity(0))
    _print_header(
        console, args, spec, base, name, where, objectives, f"{device} ({cores} cores), backend {chosen_backend()}"
    )
    console.print(why, markup=False, highlight=False)
    for worker in workers:
        console.print(f"  {worker.describe()}", markup=False, highlight=False)
    say = functools.partial(console.print, markup=False, highlight=False, soft_wrap=True)
    argv = _worker_argv(args) + ["--data-dir", str(data_dir)]
    try:
        codes = run_workers(
            workers, argv, say, width=max(60, console.width - 4), **{d: getattr(args, d) for d in HANDED_OVER}
        )
    finally:
        study = _study_after(storage, name)
        if study is not None:
            console.print(status_line(study, args.trials), highlight=False)
    for number, code in sorted(codes.items()):
        if code:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            console.print(f"[yellow]worker {number} {how}; see its lines (w{number}:) above[/]")
    if study is None:
        raise HpsearchError(f"no worker created study {name!r}; see their lines above")
    return study


def _study_after(storage, name):
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None  # every worker failed before creating it


def _worker_argv(args) -> list[str]:
    """This command's arguments for one of its workers: every option as given (--backend, --cache-dir and
    --verbose, which cli.py adds to every command, included), one worker each; --storage and --mlflow go in
    the environment (workers.HANDED_OVER)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    add_backend_argument(parser)
    parser.add_argument("--verbose", action="store_true")
    argv = []
    for action in parser._actions:  # argparse has no public list of a parser's options
        value = getattr(args, action.dest, None)
        if (
            not action.option_strings
            or action.dest in ("help", "workers", "gpus", "worker_number", *HANDED_OVER)
            or value is None
            or value == action.default
        ):
            continue
        if isinstance(action, argparse._StoreTrueAction):
            argv.append(action.option_strings[0])
        else:
            argv += [action.option_strings[0], ",".join(value) if isinstance(value, list) else str(value)]
    return argv
