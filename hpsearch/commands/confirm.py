"""hpsearch confirm: is the study's winner real? Retrain it and the baseline over seeds; Welch's t-test.

    hpsearch confirm --study-name default-cpu --seeds 5
    hpsearch confirm --study-name shared --storage postgresql://user:PASSWORD@db-host/hpsearch --trial 17
"""
from __future__ import annotations

import argparse

from hpsearch.commands.common import add_data_dir_argument, add_out_argument, positive_int
from hpsearch.record.paths import journal_path
from hpsearch.record.storage import load_study


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study-name", required=True, help="the study to confirm (as given to hpsearch study)")
    parser.add_argument("--storage", help="the study's storage: a database URL or journal file (default: the "
                        "journal file hpsearch study writes, OUT/studies/<study-name>.journal)")
    parser.add_argument("--seeds", type=positive_int, default=3,
                        help="runs per configuration, seeds base+0 .. base+N-1 (default 3; the t-test needs >= 2)")
    parser.add_argument("--trial", type=int, help="confirm this trial number instead of the best one")
    add_data_dir_argument(parser)
    add_out_argument(parser)


def run(args) -> int:
    from rich.console import Console

    from hpsearch.search.confirm import pick_trial, run_confirm

    console = Console()
    storage = args.storage or str(journal_path(args.out, args.study_name))
    study = load_study(storage, args.study_name)
    pick_trial(study, args.trial)                # a study with nothing to confirm fails before data or training
    from hpsearch.core.data import load_cifar10

    data = load_cifar10(args.data_dir)
    run_confirm(study, data, seeds=args.seeds, trial=args.trial, out=args.out, console=console)
    return 0
