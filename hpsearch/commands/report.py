"""`hpsearch report`: write a stored study's reports (CSV, JSON, one HTML page). Never trains.

    hpsearch report --study-name NAME [--storage URL] [--out ROOT]

Reads OUT/studies/<name>.journal (or --storage) and writes OUT/reports/<name>/: the same --out as the
`hpsearch study` that ran it. Works on a finished study, on one still running (in another process) and on
an interrupted one.
"""

from __future__ import annotations

import argparse
import shlex

from rich.console import Console

from hpsearch.commands.common import (
    add_out_argument,
    check_writable,
    default_storage,
    print_written,
    study_name,
    writing,
)
from hpsearch.record.storage import load_study, storage_label

# The report layer (plotly, pandas) is imported inside run(): `hpsearch --help` stays instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study-name", type=study_name, required=True, help="the study to report on")
    parser.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL (sqlite:///..., postgresql://...) or journal file "
        "(default: OUT/studies/<study-name>.journal, as `hpsearch study` uses)",
    )
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    from hpsearch.report import write_study_reports
    from hpsearch.report.console import evidence_table, trials_table, verdict_text
    from hpsearch.report.tables import trials_frame

    storage = args.storage or default_storage(args.out, args.study_name)
    study = load_study(storage, args.study_name)
    check_writable(args.out)
    with writing(args.out):
        page = write_study_reports(storage, args.study_name, args.out, study=study)
    console = Console()
    console.print(trials_table(trials_frame(study)))
    evidence = evidence_table(study)
    if evidence is not None:
        console.print(evidence)
    print_written(console, page.parent)
    console.print(
        f"Browse the storage live: optuna-dashboard {shlex.quote(storage_label(storage))}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(verdict_text(study))  # the last lines: the verdict, in the page's words
    return 0
