"""Reports people read: rich console tables, CSV, and one self-contained HTML page per run and per study.

    write_run_report(run_dir) -> Path             run_dir/report.html from run_dir/metrics.json
    write_study_reports(storage, study_name, out) -> Path
        OUT/reports/<safe study name>/{trials.csv, summary.csv, best_params.json, report.html, and confirm.json
        once `hpsearch confirm` ran: every stored confirm run by profile, and each comparison's statistics}; returns report.html. The one writer of that folder (record.paths).

Reports read only what is stored (a run folder, an Optuna storage): they never train, and they work on a
study that is still running or was interrupted. `storage` is an Optuna storage URL, a journal file path,
a storage object, or the optuna.Study itself (read through hpsearch.record).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna

from hpsearch.core.result import jsonable
from hpsearch.errors import HpsearchError
from hpsearch.files import csv_text, json_text, write_files, write_text
from hpsearch.record import confirms
from hpsearch.record.paths import study_report_dir
from hpsearch.record.storage import load_study, storage_label
from hpsearch.record.trials import best_params
from hpsearch.report import html, tables

__all__ = ["write_run_report", "write_study_reports"]


def write_run_report(run_dir: str | Path) -> Path:
    """Write run_dir/report.html from run_dir/metrics.json; returns the page's path."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise HpsearchError(f"no metrics.json in {run_dir}; pass the folder `hpsearch baseline` wrote (reports/<run>/)")
    try:
        metrics = json.loads(metrics_path.read_text())
    except json.JSONDecodeError as exc:
        raise HpsearchError(f"{metrics_path} is not valid JSON ({exc}); rerun `hpsearch baseline`") from exc
    return write_text(run_dir / "report.html", html.render_run(metrics, name=run_dir.name))


def write_study_reports(
    storage: Any, study_name: str, out: str | Path = ".", study: optuna.Study | None = None
) -> Path:
    """Write trials.csv, summary.csv, best_params.json, report.html (and confirm.json, when the study holds a
    confirm result) for a stored study, into OUT/reports/<safe study name>/ (record.paths.study_report_dir);
    returns the path of report.html. `study`: the study already loaded from `storage` by the caller, so it is
    not read twice. Every file is a function of what the study stored, whichever command calls this.
    """
    study = study or load_study(storage, study_name)
    folder = study_report_dir(out, study_name)
    if (folder / "metrics.json").exists():  # runs and studies share reports/: never write over a run's page
        raise HpsearchError(
            f"{folder} is a baseline run's folder (metrics.json), not study {study_name!r}'s; pass --out DIR to "
            f"write the study's reports elsewhere, or rename the run's folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    frame = tables.trials_frame(study)
    files = {  # every file rendered first, then all written at once (hpsearch.files): a failure leaves the old set
        folder / "trials.csv": csv_text(frame),
        folder / "summary.csv": csv_text(tables.summary_frame(study, frame)),
        folder / "best_params.json": json_text(jsonable(best_params(study))),
    }
    stored = confirms.stored(study)
    if stored:
        found = {
            "statistics": confirms.STATISTICS,
            "confirms": stored,
            "comparisons": [c.row() for c in confirms.comparisons(study)],
        }
        files[folder / "confirm.json"] = json_text(jsonable(found))
    page = folder / "report.html"
    files[page] = html.render_study(study, storage_label(storage), out=out)
    write_files(files)
    return page
