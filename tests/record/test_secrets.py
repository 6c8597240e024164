"""Secrets without a server: every storage URL is parsed and masked (user info, query parameters, driver
error messages, the study header); a mistyped URL is refused and never becomes a journal file."""

import os

import optuna
import pytest

from hpsearch.cli import main
from hpsearch.record import storage, urls

SECRET = "s3cr%40t"  # percent-encoded: the driver sees "s3cr@t", and may quote that back


@pytest.mark.parametrize(
    "url, shown",
    [
        (f"postgresql://alice:{SECRET}@db:5432/hp", "postgresql://alice:***@db:5432/hp"),
        (
            f"postgresql://alice@db/hp?password={SECRET}&sslmode=require",
            "postgresql://alice@db/hp?password=***&sslmode=require",
        ),
        (f"mysql+pymysql://bob@db/hp?passwd={SECRET}", "mysql+pymysql://bob@db/hp?passwd=***"),
        (f"redis://:{SECRET}@cache:6379/0", "redis://:***@cache:6379/0"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("studies/a.journal", "studies/a.journal"),
    ],
)
def test_every_password_is_masked(url, shown):
    assert urls.mask_url(url) == shown
    assert storage.storage_label(url) == shown


def test_free_text_quoting_a_url_is_masked():
    text = f"could not connect to postgresql://alice:{SECRET}@db/hp?sslpassword=k3y (timeout)"
    masked = urls.mask_url(text)
    assert SECRET not in masked and "k3y" not in masked and masked.startswith("could not connect to postgresql://")


@pytest.mark.parametrize("url", [f"postgresql://alice:{SECRET}@db/hp", f"postgresql://alice@db/hp?password={SECRET}"])
def test_a_driver_error_quoting_the_password_is_masked(url, monkeypatch):
    def refuse(url_given, **kwargs):  # the driver's own words, password decoded, as psycopg quotes a DSN
        raise RuntimeError(f'connection failed: password="s3cr@t" user=alice dsn={url_given}')

    monkeypatch.setattr(optuna.storages, "RDBStorage", refuse)
    with pytest.raises(storage.StorageError) as info:
        storage.open_storage(url)
    message = str(info.value)
    assert "s3cr" not in message and "***" in message and message.startswith("cannot open storage postgresql://")


@pytest.mark.parametrize(
    "typo",
    ["postgresql:/alice:pw123@db/hp", "postgresql:alice:pw123@db/hp", "mysql:/db/hp", "sqlite:/x.db", "foo:/bar"],
)
def test_a_mistyped_url_is_refused_and_never_becomes_a_file(typo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--study-name", "s", "--storage", typo]) == 2
    err = capsys.readouterr().err
    assert "is not a valid URL" in err and "://" in err and "pw123" not in err
    with pytest.raises(storage.StorageError, match="needs '//'"):
        storage.open_storage(typo)
    assert os.listdir(tmp_path) == []


def test_a_windows_drive_is_a_path_not_a_scheme():
    urls.check_not_mistyped("C:/studies/a.journal")  # raises nothing


def test_the_study_header_and_interrupt_line_never_print_the_password(tmp_path, monkeypatch, capsys):
    from hpsearch.commands import study as command
    from hpsearch.search import optuna_engine

    url = f"postgresql://alice:{SECRET}@db/hp?password=other-secret"
    opened = []
    monkeypatch.setattr(
        command, "open_storage", lambda where: opened.append(where) or optuna.storages.InMemoryStorage()
    )
    monkeypatch.setattr(command, "load_cifar10", lambda data_dir: None)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(optuna_engine, "run_study", interrupted)
    assert main(["study", "--storage", url, "--profile", "smoke", "--trials", "1", "--out", str(tmp_path)]) == 130
    out = capsys.readouterr()
    shown = " ".join(out.out.split())  # as read, whatever the terminal's width
    assert opened == [url]  # the real URL went to the storage ...
    assert "storage postgresql://alice:***@db/hp?password=***" in shown  # ... and only the masked one was shown
    assert "hpsearch: interrupted; finished trials are kept in postgresql://alice:***@" in out.err
    assert "s3cr" not in out.out + out.err and "other-secret" not in out.out + out.err


def test_a_drivers_message_never_quotes_even_a_short_password():
    """A password shorter than urls.MIN_REDACTED is not searched for in everything printed (it would mask
    random letters), so the message about that URL itself must lose it: mask_message replaces the URL's own
    secrets, however short."""
    url = "postgresql://alice:zq@db-host/hpsearch"
    assert len("zq") < urls.MIN_REDACTED
    message = 'connection to server at "db-host" failed: FATAL: password "zq" for user "alice" rejected'
    masked = urls.mask_message(message, url)
    assert "zq" not in masked and "alice" in masked and "db-host" in masked
