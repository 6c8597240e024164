"""hpsearch confirm: is the study's winner real? Retrain it and the baseline over seeds, at any profile.

    hpsearch confirm --study-name default-cpu --seeds 5
    hpsearch confirm --study-name default-cpu --profile full --seeds 2     # search on cpu, confirm on a GPU
    hpsearch confirm --study-name shared --storage postgresql://user:PASSWORD@db-host/hpsearch --top 3

Reads the study from OUT/studies/<name>.journal (or --storage). Each finished seed run is stored in the study
at once, under its own user attr ("confirm_run:<profile>:<trial>:<seed>", record/confirms.py): an interrupt
keeps it, running the same command again continues, skipping the stored seeds, and two confirms running at
once never overwrite each other's runs. Then rewrites OUT/reports/<name>/ (confirm.json,
best_params.json, the page), the same --out as the `hpsearch study` that ran it.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from hpsearch.commands.common import (
    add_data_dir_argument,
    add_out_argument,
    check_writable,
    default_storage,
    positive_int,
    print_written,
    profile_choices,
    study_name,
    writing,
)
from hpsearch.core.config import TrainConfig
from hpsearch.core.data import load_cifar10
from hpsearch.core.device import out_of_memory
from hpsearch.errors import HpsearchError
from hpsearch.interrupts import Interrupted, interrupts_deferred
from hpsearch.numbers import pct
from hpsearch.record import confirms, keys
from hpsearch.record.storage import load_study

# The layers that load Keras and its backend (search.confirm) and the report layer (plotly,
# pandas) are imported inside run(): `hpsearch --help` and argument errors stay instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--study-name", type=study_name, required=True, help="the study to confirm (as given to hpsearch study)"
    )
    parser.add_argument(
        "--storage",
        help="the study's storage: a database URL or journal file (default: the "
        "journal file hpsearch study writes, OUT/studies/<study-name>.journal)",
    )
    parser.add_argument(
        "--profile",
        metavar=profile_choices(),
        help="the run size to confirm at (default: the study's own); e.g. search at cpu, confirm at "
        "full on a GPU. Each profile's confirmation is stored beside the others",
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=3,
        metavar="N",
        help="how many seeds (a count, not a seed value): runs per configuration with seeds base+0 .. base+N-1 "
        "(default 3; a t-test needs >= 2, and under 3 a side the interval is too wide to decide anything); "
        "seeds already stored at this profile are skipped",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--trial", type=int, help="confirm this trial number instead of the best one")
    which.add_argument(
        "--top",
        type=positive_int,
        help="confirm the K best trials by val accuracy (each against the same baseline runs)",
    )
    add_data_dir_argument(parser)
    add_out_argument(parser)


def run(args) -> int:
    from hpsearch.core.callbacks import TrainingDiverged
    from hpsearch.report import write_study_reports
    from hpsearch.report.console import confirm_table, evidence_table, seeds_warning, verdict_text
    from hpsearch.search.confirm import pick_trials, planned_seeds, run_confirm, study_profile

    console = Console()
    storage = args.storage or default_storage(args.out, args.study_name)
    study = load_study(storage, args.study_name)
    chosen = pick_trials(study, args.trial, args.top)  # a study with nothing to confirm fails before data or training
    profile = args.profile or study_profile(study)
    TrainConfig.from_profile(profile)  # an unknown --profile fails here, naming the known ones
    seeds = planned_seeds(study, args.seeds)
    numbers = [t.number for t in chosen]
    stored = confirms.done(study, profile)
    skip = {(n, s) for n in [None, *numbers] for s in seeds if (n, s) in stored}
    todo = (len(numbers) + 1) * len(seeds) - len(skip)
    console.print(
        f"confirm {study.study_name}: trial(s) {', '.join(map(str, numbers))} vs the baseline, seeds "
        f"{', '.join(map(str, seeds))}, at profile {profile} (the search ran at {study_profile(study)}), "
        f"scored on the test set with TTA; {len(skip)} run(s) already stored, {todo} to train",
        markup=False,
        highlight=False,
    )
    check_writable(args.out)
    data = load_cifar10(args.data_dir) if todo else None

    def store(run: dict) -> None:
        with interrupts_deferred():  # a Ctrl-C meanwhile waits until the finished run is stored
            confirms.add_run(study, profile, run, seeds=seeds, trials=numbers)
        label = "baseline" if run["trial"] is None else f"trial {run['trial']}"
        console.print(
            f"  {label:9s} seed {run['seed']}: test TTA {pct(run[confirms.METRIC])} "
            f"(val {pct(run['val_accuracy'])}, {run['seconds']:.1f} s), stored",
            highlight=False,
        )

    try:
        run_confirm(study, data, chosen, profile=profile, seeds=args.seeds, skip=skip, on_run=store)
    except KeyboardInterrupt:
        raise Interrupted(
            "the finished seed runs are stored in the study; run the same command again to train the rest"
        ) from None
    except TrainingDiverged as exc:
        raise HpsearchError(
            f"a confirm run diverged at profile {profile}: {exc}; the finished runs are stored in the study; "
            f"confirm another trial (--trial N) or at another --profile"
        ) from None
    except Exception as exc:
        if out_of_memory(exc):
            raise HpsearchError(
                f"{out_of_memory(exc)} at profile {profile}; the finished runs are stored in the study; "
                f"confirm at a smaller --profile, or free the device"
            ) from None
        raise
    for comparison in confirms.comparisons(study):
        if comparison.profile == profile and comparison.trial in numbers:
            console.print(confirm_table(comparison))
            warning = seeds_warning(comparison)
            if warning is not None:
                console.print(warning)
    evidence = evidence_table(study)
    if evidence is not None:
        console.print(evidence)
    where = f"the study (user attrs {keys.CONFIRM_RUN_PREFIX}{profile}:...)"
    with writing(args.out, kept=f"the confirm runs are stored in {where}"):
        page = write_study_reports(storage, args.study_name, args.out, study=study)
    console.print(f"stored in {where}", markup=False, highlight=False)
    print_written(console, page.parent)
    console.print(verdict_text(study))
    return 0
