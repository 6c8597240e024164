"""Every storage kind a test can run on: a journal file, a SQLite file, and PostgreSQL where
HPSEARCH_TEST_POSTGRES_URL is set (scripts/test sets it; the PostgreSQL case is skipped otherwise)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

POSTGRES = os.environ.get("HPSEARCH_TEST_POSTGRES_URL")
KINDS = [
    "journal",
    "sqlite",
    pytest.param(
        "postgres",
        marks=[pytest.mark.postgres, pytest.mark.skipif(not POSTGRES, reason="HPSEARCH_TEST_POSTGRES_URL is not set")],
    ),
]


def storage_url(kind: str, folder: Path) -> str:
    """A fresh storage of `kind` in `folder` (PostgreSQL: the one test database; give studies unique names)."""
    return {"journal": str(folder / "s.journal"), "sqlite": f"sqlite:///{folder / 's.db'}", "postgres": POSTGRES}[kind]
