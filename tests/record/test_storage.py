"""Storages: passwords masked wherever one is named, clear errors, the default journal file, reading only."""

import importlib.util

import optuna
import pytest

from hpsearch.errors import HpsearchError
from hpsearch.record import storage
from hpsearch.record.paths import safe_name


def test_storage_passwords_are_masked():
    assert storage.mask_url("postgresql://alice:s3cret@db:5432/hp") == "postgresql://alice:***@db:5432/hp"
    assert storage.mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_an_unreachable_database_is_a_clear_error_without_the_password():
    with pytest.raises(storage.StorageError) as info:
        storage.open_storage("postgresql://alice:s3cret@127.0.0.1:1/hp")  # nothing listens on port 1
    message = str(info.value)
    assert "cannot open storage postgresql://alice:***@127.0.0.1:1/hp" in message and "s3cret" not in message


def test_the_default_storage_is_a_journal_file_under_out(tmp_path):
    opened = storage.open_storage(None, study_name="my study/../x", out=tmp_path)
    assert isinstance(opened, optuna.storages.JournalStorage)
    assert [p.name for p in (tmp_path / "studies").glob("*.journal")] == [f"{safe_name('my study/../x')}.journal"]
    assert safe_name("my study/../x").startswith("my_study_.._x-")


def test_a_storage_is_named_without_its_password():
    assert storage.storage_label("postgresql://me:s3cret@db:5432/hp") == "postgresql://me:***@db:5432/hp"
    assert storage.storage_label("studies/a.journal") == "studies/a.journal"


def test_reading_never_creates_a_storage(tmp_path):
    missing = tmp_path / "studies" / "none.journal"
    with pytest.raises(HpsearchError, match="run `hpsearch study` first"):
        storage.load_study(str(missing), "none")
    assert not missing.parent.exists()


def test_a_trial_id_is_found_by_public_api(tmp_path):
    opened = storage.open_storage(tmp_path / "s.journal")
    study = optuna.create_study(storage=opened, study_name="s")
    trial = study.ask()
    assert storage.trial_id(opened, study, trial.number) == trial._trial_id  # noqa: SLF001 - the check itself


def test_postgresql_uses_psycopg_3_and_falls_back_to_psycopg2(monkeypatch):
    find_spec = storage.importlib.util.find_spec
    if find_spec("psycopg"):
        assert storage._with_driver("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setattr(
        storage.importlib.util, "find_spec", lambda name: None if name == "psycopg" else find_spec(name)
    )
    if find_spec("psycopg2"):
        assert storage._with_driver("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert storage._with_driver("sqlite:///x.db") == "sqlite:///x.db"


def test_a_driver_error_that_repeats_the_password_is_scrubbed(monkeypatch):
    """No server needed: the database layer is stubbed to fail the way a driver may, echoing the password
    outside any URL; the message must keep the reason and lose the password."""

    def refuse(url, **kwargs):
        raise RuntimeError('FATAL: password "s3cret" rejected for user alice (dsn host=db password=s3cret)')

    monkeypatch.setattr(optuna.storages, "RDBStorage", refuse)
    with pytest.raises(storage.StorageError) as info:
        storage.open_storage("postgresql://alice:s3cret@db:5432/hp")
    message = str(info.value)
    assert "s3cret" not in message and "rejected for user alice" in message
    assert 'password "***"' in message and "postgresql://alice:***@db:5432/hp" in message


@pytest.mark.parametrize(
    "url, module, package",
    [
        ("redis://127.0.0.1:1/0", None, "pip install redis"),  # Optuna's ImportError names no module
        ("rediss://127.0.0.1:1/0", None, "pip install redis"),
        ("mysql+pymysql://u@h/db", "pymysql", "pip install PyMySQL"),
        ("mysql://u@h/db", "MySQLdb", "pip install mysqlclient"),
        ("postgresql://u@h/db", "psycopg", "pip install 'psycopg[binary]'"),
        ("postgresql+psycopg2://u@h/db", "psycopg2", "pip install psycopg2-binary"),
        ("oracle+oracledb://u@h/db", "oracledb", "pip install oracledb"),
        ("mssql+pyodbc://u@h/db", "pyodbc", "pip install pyodbc"),
    ],
)
def test_a_missing_driver_names_its_own_package(url, module, package, monkeypatch):
    def missing(*args, **kwargs):
        raise ImportError(f"No module named {module!r}", name=module)

    monkeypatch.setattr(optuna.storages, "RDBStorage", missing)
    monkeypatch.setattr(storage, "JournalRedisBackend", missing)
    with pytest.raises(storage.StorageError) as info:
        storage.open_storage(url)
    assert str(info.value).endswith(package) and "driver is not installed" in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("redis") is not None, reason="the redis package is installed here")
def test_redis_without_its_package_is_told_to_install_redis():
    with pytest.raises(storage.StorageError, match=r"pip install redis$"):
        storage.open_storage("redis://:pw@127.0.0.1:1/0")
