"""hpsearch confirm: is the study's winner real? Retrain it and the baseline over seeds; Welch's t-test.

    hpsearch confirm --study-name default-cpu --seeds 5
    hpsearch confirm --study-name shared --storage postgresql://user:PASSWORD@db-host/hpsearch --trial 17

Reads the study from OUT/studies/<name>.journal (or --storage), stores the result in the study (user attr
"confirm") and rewrites OUT/reports/<name>/ (confirm.json, best_params.json, the page): the same --out as
the `hpsearch study` that ran it.
"""
from __future__ import annotations

import argparse

from rich.console import Console

from hpsearch.commands.common import (add_data_dir_argument, add_out_argument, check_writable, default_storage,
                                      positive_int, print_written, study_name, writing)
from hpsearch.core.data import load_cifar10
from hpsearch.record import keys
from hpsearch.record.storage import load_study

# The layers that load Keras and its backend (search.confirm) and the report layer (plotly,
# pandas) are imported inside run(): `hpsearch --help` and argument errors stay instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study-name", type=study_name, required=True,
                        help="the study to confirm (as given to hpsearch study)")
    parser.add_argument("--storage", help="the study's storage: a database URL or journal file (default: the "
                        "journal file hpsearch study writes, OUT/studies/<study-name>.journal)")
    parser.add_argument("--seeds", type=positive_int, default=3,
                        help="runs per configuration, seeds base+0 .. base+N-1 (default 3; the t-test needs >= 2)")
    parser.add_argument("--trial", type=int, help="confirm this trial number instead of the best one")
    add_data_dir_argument(parser)
    add_out_argument(parser)


def run(args) -> int:
    from hpsearch.report import write_study_reports
    from hpsearch.report.console import confirm_table
    from hpsearch.search.confirm import METRIC, pick_trial, run_confirm, study_profile

    console = Console()
    storage = args.storage or default_storage(args.out, args.study_name)
    study = load_study(storage, args.study_name)
    chosen = pick_trial(study, args.trial)       # a study with nothing to confirm fails before data or training
    check_writable(args.out)
    data = load_cifar10(args.data_dir)
    console.print(f"confirm {study.study_name}: trial {chosen.number} vs the baseline, {args.seeds} seed(s) each, "
                  f"profile {study_profile(study)}, scored on the test set with TTA", markup=False, highlight=False)

    def say(run: dict) -> None:
        console.print(f"  {run['which']:8s} seed {run['seed']}: {METRIC} {run[METRIC]:.2%} "
                      f"(val {run['val_accuracy']:.2%}, {run['seconds']:.1f} s)", highlight=False)

    result = run_confirm(study, data, seeds=args.seeds, trial=args.trial, on_run=say)
    study.set_user_attr(keys.CONFIRM, result)
    console.print(confirm_table(result))
    with writing(args.out, kept=f"the confirm result is stored in the study (user attr {keys.CONFIRM!r})"):
        page = write_study_reports(storage, args.study_name, args.out, study=study)
    console.print(f"stored in the study (user attr {keys.CONFIRM!r})", markup=False, highlight=False)
    print_written(console, page.parent)
    return 0
