"""On a real PostgreSQL server (HPSEARCH_TEST_POSTGRES_URL, which scripts/test sets up): the plain
postgresql:// URL works with the driver the `postgres` extra installs (psycopg 3), in hpsearch, in Optuna
itself and in optuna-dashboard's storage opener; reading creates nothing."""

import os
import uuid

import optuna
import pytest
import sqlalchemy

from hpsearch.cli import main
from hpsearch.record import storage
from hpsearch.record.paths import study_report_dir
from tests.report.report_fakes import build_study

URL = os.environ.get("HPSEARCH_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not URL, reason="HPSEARCH_TEST_POSTGRES_URL is not set (scripts/test sets it)"),
]


def _snapshot(url):
    """Every table of the database with its row count: what a read-only command must leave as it was."""
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            names = sqlalchemy.inspect(connection).get_table_names()
            return {n: connection.execute(sqlalchemy.text(f'select count(*) from "{n}"')).scalar() for n in names}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def study_name():
    name = f"dash-{uuid.uuid4().hex[:8]}"
    build_study(name, storage.open_storage(URL), n_trials=4)
    return name


def test_optuna_and_optuna_dashboard_read_the_study_by_its_plain_url(study_name):
    pytest.importorskip("psycopg")  # what SQLAlchemy 2.1 maps postgresql:// to
    ours = optuna.load_study(study_name=study_name, storage=storage.open_storage(URL))
    plain = optuna.load_study(study_name=study_name, storage=URL)
    assert [t.values for t in plain.trials] == [t.values for t in ours.trials] and len(ours.trials) >= 4
    dashboard = pytest.importorskip("optuna_dashboard._storage_url")
    opened = dashboard.get_storage(URL)  # what `optuna-dashboard URL` opens
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(opened)}
    assert summaries[study_name].n_trials == len(ours.trials)


def test_reading_a_missing_study_writes_nothing(study_name, tmp_path, capsys):
    before = _snapshot(URL)
    for command in ("report", "confirm"):
        assert main([command, "--study-name", "no-such-study", "--storage", URL, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no study named 'no-such-study'" in err and study_name in err
    assert _snapshot(URL) == before and not (tmp_path / "reports").exists()


def test_the_report_names_the_database_without_its_password(study_name, tmp_path, capsys):
    assert main(["report", "--study-name", study_name, "--storage", URL, "--out", str(tmp_path)]) == 0
    password = sqlalchemy.engine.make_url(URL).password
    page = (study_report_dir(tmp_path, study_name) / "report.html").read_text()
    printed = capsys.readouterr().out
    masked = storage.mask_url(URL)
    assert masked.split("@")[0] in page and f"optuna-dashboard '{masked}'" in " ".join(printed.split())
    assert not password or (password not in page and password not in printed)
