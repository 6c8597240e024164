"""`hpsearch report`: write a stored study's reports (CSV, JSON, one HTML page). Never trains.

    hpsearch report [--study-name NAME] [--storage URL] [--out ROOT]

Reads OUT/studies/<name>.journal (or --storage; without --study-name, the only study there) and writes OUT/reports/<name>/: the same --out as the
`hpsearch study` that ran it. Works on a finished study, on one still running (in another process) and on
an interrupted one.
"""

from __future__ import annotations

import argparse
import shlex

from rich.console import Console

from hpsearch.commands.common import (
    add_out_argument,
    add_study_arguments,
    check_writable,
    find_study,
    print_written,
    writing,
)
from hpsearch.record.storage import load_study, storage_label

# The report layer (plotly, pandas) is imported inside run(): `hpsearch --help` stays instant.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_study_arguments(parser, "to report on")
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    from hpsearch.report import write_study_reports
    from hpsearch.report.console import evidence_table, trials_table, verdict_text
    from hpsearch.report.tables import trials_frame

    console = Console()
    storage, name = find_study(args, lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
    study = load_study(storage, name)
    check_writable(args.out)
    with writing(args.out):
        page = write_study_reports(storage, name, args.out, study=study)
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
