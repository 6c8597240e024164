"""Where things live: one safe file name, and one rule for where a study and its reports go.

Every command takes the same `--out ROOT` (default: the current folder):

    ROOT/studies/<safe name>.journal     a study's default storage (a journal file)
    ROOT/studies/keras_tuner/<safe name>/  keras-tuner's own state for that study
    ROOT/reports/<safe name>/            a study's reports (trials.csv, summary.csv, best_params.json, ...)
    ROOT/reports/<run name>/             a `hpsearch baseline` run folder
    ROOT/artifacts/                      kept models (Optuna's artifact store, record/models.py)
    ROOT/tensorboard/<safe name>/        TensorBoard logs of a study's trials (or a run's), hpsearch/track/

The journal file and the report folder of one study always share its safe name.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from hpsearch.errors import HpsearchError

STUDIES = "studies"
REPORTS = "reports"
ARTIFACTS = "artifacts"
TENSORBOARD = "tensorboard"
MAX_NAME = 80
_HASHED = re.compile(r"-[0-9a-f]{8}$")  # how a changed name ends


def safe_name(name: str) -> str:
    """A name as a file or folder name: letters, digits, '.', '_', '-' only, at most MAX_NAME of them, never
    '.' or '..'. A name that had to change gets a short hash of the original, so two different names never
    share a file: a name kept as it is never ends like a hashed one (-8 hex digits), so it cannot be one."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._-")[:MAX_NAME]
    if cleaned == name and cleaned and not _HASHED.search(cleaned):
        return cleaned
    digest = hashlib.sha1(str(name).encode("utf-8")).hexdigest()[:8]
    return f"{cleaned}-{digest}" if cleaned else f"study-{digest}"


def _inside(root: str | Path, name: str) -> Path:
    """root/<safe_name(name)>, checked to lie inside root."""
    root = Path(root)
    folder = root / safe_name(name)
    if folder.resolve().parent != root.resolve():  # cannot happen with safe_name; the guard of last resort
        raise HpsearchError(f"name {name!r} would write outside {root}; choose a plain name")
    return folder


def journal_path(out: str | Path, study_name: str) -> Path:
    """ROOT/studies/<safe name>.journal: a study's default storage."""
    return Path(out) / STUDIES / f"{safe_name(study_name)}.journal"


def tuner_dir(out: str | Path) -> Path:
    """ROOT/studies/keras_tuner: keras-tuner's project folders (one per study, by safe name)."""
    return Path(out) / STUDIES / "keras_tuner"


def study_report_dir(out: str | Path, study_name: str) -> Path:
    """ROOT/reports/<safe name>/: a study's reports."""
    return _inside(Path(out) / REPORTS, study_name)


def run_dir(out: str | Path, run_name: str) -> Path:
    """ROOT/reports/<safe run name>/: a `hpsearch baseline` run folder."""
    return _inside(Path(out) / REPORTS, run_name)


def artifact_dir(out: str | Path) -> Path:
    """ROOT/artifacts: the file-system artifact store of kept models (every study's, by artifact id)."""
    return Path(out) / ARTIFACTS


def tensorboard_dir(out: str | Path, name: str) -> Path:
    """ROOT/tensorboard/<safe name>/: TensorBoard logs of a study's trials, or of a run."""
    return _inside(Path(out) / TENSORBOARD, name)
