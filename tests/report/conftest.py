"""Fixtures for the report tests: fake studies and run folders (see report_fakes.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from report_fakes import build_metrics, build_study


@pytest.fixture
def make_study():
    return build_study


@pytest.fixture
def journal_study(tmp_path):
    """(storage path, study name) of a fake study stored in a journal file, as `hpsearch study` leaves it."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = tmp_path / "studies" / "cpu-demo.journal"
    path.parent.mkdir(parents=True)
    build_study("cpu-demo", JournalStorage(JournalFileBackend(str(path))))
    return str(path), "cpu-demo"


@pytest.fixture
def run_dir(tmp_path) -> Path:
    folder = tmp_path / "reports" / "baseline-cpu"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(build_metrics()))
    return folder
