"""Reports people read: rich console tables, CSV, and one self-contained HTML page per run and per study.

    write_run_report(run_dir) -> Path             run_dir/report.html from run_dir/metrics.json
    write_study_reports(storage, study_name, out_dir) -> Path
        out_dir/<safe study name>/{trials.csv, summary.csv, best_params.json, report.html}; returns report.html
    load_study(storage, study_name)      the stored study, or an HpsearchError listing the studies there
    report_dir(out_dir, study_name)      out_dir/<safe_name(study_name)>, never outside out_dir

Reports read only what is stored (a run folder, an Optuna storage): they never train, and they work on a
study that is still running or was interrupted. `storage` is an Optuna storage URL, a journal file path,
a storage object, or the optuna.Study itself. A study name never becomes a path outside `out_dir` (see `safe_name`).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import optuna

from hpsearch.core.result import jsonable
from hpsearch.errors import HpsearchError

__all__ = ["write_run_report", "write_study_reports", "load_study", "open_storage", "report_dir", "safe_name",
           "storage_label"]


def write_run_report(run_dir: str | Path) -> Path:
    """Write run_dir/report.html from run_dir/metrics.json; returns the page's path."""
    from hpsearch.report.html import render_run

    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise HpsearchError(f"no metrics.json in {run_dir}; pass the folder `hpsearch baseline` wrote "
                            "(reports/<run>/)")
    try:
        metrics = json.loads(metrics_path.read_text())
    except json.JSONDecodeError as exc:
        raise HpsearchError(f"{metrics_path} is not valid JSON ({exc}); rerun `hpsearch baseline`") from exc
    page = run_dir / "report.html"
    page.write_text(render_run(metrics, name=run_dir.name), encoding="utf-8")
    return page


def write_study_reports(storage: Any, study_name: str, out_dir: str | Path = "reports",
                        study: optuna.Study | None = None) -> Path:
    """Write trials.csv, summary.csv, best_params.json and report.html for a stored study.

    They go to out_dir/<safe_name(study_name)>/; returns the path of report.html. `study`: the study
    already loaded from `storage` by the caller, so it is not read twice.
    """
    from hpsearch.report import html, tables

    study = study or load_study(storage, study_name)
    folder = report_dir(out_dir, study_name)
    folder.mkdir(parents=True, exist_ok=True)
    frame = tables.trials_frame(study)
    frame.to_csv(folder / "trials.csv", index=False)
    tables.summary_frame(study, frame).to_csv(folder / "summary.csv", index=False)
    (folder / "best_params.json").write_text(json.dumps(jsonable(tables.best_params(study)), indent=2) + "\n")
    page = folder / "report.html"
    page.write_text(html.render_study(study, storage_label(storage, study_name)), encoding="utf-8")
    return page


def safe_name(name: str) -> str:
    """A folder name for a study: letters, digits, '.', '_', '-' only, never '.' or '..'.

    A name that had to change gets a short hash of the original, so two different names never share a folder.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._-")[:80]
    if cleaned == name and cleaned:
        return cleaned
    digest = hashlib.sha1(str(name).encode("utf-8")).hexdigest()[:8]
    return f"{cleaned}-{digest}" if cleaned else f"study-{digest}"


def report_dir(out_dir: str | Path, study_name: str) -> Path:
    """out_dir/<safe_name(study_name)>, checked to lie inside out_dir."""
    root = Path(out_dir).resolve()
    folder = (root / safe_name(study_name)).resolve()
    if folder.parent != root:  # cannot happen with safe_name; kept as the guard of last resort
        raise HpsearchError(f"study name {study_name!r} would write outside {out_dir}; choose a plain name")
    return folder


def open_storage(storage: Any) -> Any:
    """An Optuna storage for reading: a URL (sqlite:///..., postgresql://...), a journal file path, or a
    storage object as it is. Opened by the study command's own rules (hpsearch.search.optuna_engine);
    a journal file that does not exist is an error here, never created."""
    if not isinstance(storage, (str, Path)):
        return storage
    text = str(storage)
    local = text[len("sqlite:///"):] if text.startswith("sqlite:///") else None if "://" in text else text
    if local is not None and local != ":memory:" and not Path(local).is_file():
        raise HpsearchError(f"no study storage at {text}: the file does not exist; run `hpsearch study` "
                            "first, or pass --storage with the journal file or database URL the study used")
    from hpsearch.search.storage import open_storage as engine_open

    return engine_open(text, heartbeat=False)


def load_study(storage: Any, study_name: str) -> optuna.Study:
    """The stored study, or an HpsearchError that lists the studies this storage does hold.

    `storage` may also be an optuna.Study already open (the study command's own), used as it is.
    """
    if isinstance(storage, optuna.Study) and storage.study_name == study_name:
        return storage
    if isinstance(storage, optuna.Study):
        storage = storage._storage  # noqa: SLF001 - the same storage, another study in it
    opened = open_storage(storage)
    try:
        return optuna.load_study(study_name=study_name, storage=opened)
    except KeyError:
        names = optuna.get_all_study_names(opened)
        known = ", ".join(repr(n) for n in names) if names else "none"
        raise HpsearchError(f"no study named {study_name!r} in {storage_label(storage)}; "
                            f"studies there: {known}; pass one of them with --study-name") from None


def storage_label(storage: Any, study_name: str | None = None) -> str:
    """How to name the storage to a person: a URL with its password hidden, a path, or a placeholder."""
    if isinstance(storage, (str, Path)):
        from hpsearch.search.storage import mask_url

        return mask_url(str(storage))
    return "STORAGE_URL"
