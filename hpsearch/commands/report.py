"""`hpsearch report`: write a stored study's reports (CSV, JSON, one HTML page). Never trains.

    hpsearch report --study-name NAME [--storage URL] [--out DIR]

Works on a finished study, on one still running (in another process) and on an interrupted one.
"""
from __future__ import annotations

import argparse
import shlex

from rich.console import Console
from rich.markup import escape

DEFAULT_OUT = "reports"


def default_storage(study_name: str) -> str:
    """The study command's default storage: the journal file studies/<study name>.journal."""
    from hpsearch.search.storage import journal_path

    return str(journal_path(study_name))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study-name", required=True, help="the study to report on")
    parser.add_argument("--storage", default=None,
                        help="Optuna storage URL (sqlite:///..., postgresql://...) or journal file "
                             "(default: studies/<study-name>.journal, as `hpsearch study` uses)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"folder for the reports; they go to OUT/<study-name>/ (default: {DEFAULT_OUT})")


def run(args: argparse.Namespace) -> int:
    from hpsearch.report import load_study, storage_label, write_study_reports
    from hpsearch.report.console import trials_table
    from hpsearch.report.tables import trials_frame

    storage = args.storage or default_storage(args.study_name)
    study = load_study(storage, args.study_name)
    page = write_study_reports(storage, args.study_name, args.out, study=study)
    console = Console()
    console.print(trials_table(trials_frame(study)))
    console.print(f"Reports written to [bold]{escape(str(page.parent))}[/bold]: trials.csv, summary.csv, "
                  "best_params.json, report.html", highlight=False, soft_wrap=True)
    console.print(f"Browse the storage live: optuna-dashboard {shlex.quote(storage_label(storage))}", markup=False,
                  highlight=False, soft_wrap=True)
    return 0
