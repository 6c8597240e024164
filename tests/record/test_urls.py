"""record.urls: a password never shows, whatever the URL's shape (a table of shapes, and Hypothesis generating
more), in the label, in a driver's message, in what the CLI prints or logs, in the files a report writes; a
string that looks like a mistyped URL is refused before it can become a path, without echoing it."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hpsearch.cli import main
from hpsearch.record import storage, urls

PW = "Hunter2Pw"  # distinctive: any appearance of it in an output is a leak
# (url, the secrets it holds): every secret must be absent from everything shown
SHAPES = [
    (f"postgresql://alice:{PW}@db/hp", [PW]),
    (f"postgresql://alice:{PW}@db:5432/hp", [PW]),
    ("postgresql://alice:pass word 9x@db/hp", ["pass word 9x"]),
    ("postgresql://alice:p@ss@w0rd@db/hp", ["p@ss@w0rd"]),
    ("postgresql://alice:p%40ssw0rd@db/hp", ["p%40ssw0rd", "p@ssw0rd"]),
    ("postgresql://alice:pa:ss:wd@db/hp", ["pa:ss:wd"]),
    ("postgresql://alice:pa/ss/wd@db/hp", ["pa/ss/wd"]),
    ("postgresql://alice:pa?ss=wd@db/hp", ["pa?ss=wd"]),
    ("postgresql://alice:pa#sswd@db/hp", ["pa#sswd"]),
    ("postgresql://alice:pa&ss=wd@db/hp", ["pa&ss=wd"]),
    ("postgresql://alice:pa%20ss+wd@db/hp", ["pa%20ss+wd", "pa ss+wd", "pa ss wd"]),
    ('postgresql://alice:"quoted pw"@db/hp', ['"quoted pw"', "quoted pw"]),
    ("postgresql://alice:pässwörd@db/hp", ["pässwörd"]),
    ("postgresql://alice:pw\twith\ttabs@db/hp", ["pw\twith\ttabs"]),
    (f"postgresql://alice:{PW}@db:notaport/hp", [PW]),
    (f"postgresql://alice:{PW}@db:99999999/hp", [PW]),
    (f"postgresql://alice:{PW}@[::1]:5432/hp", [PW]),
    (f"postgresql://alice:{PW}@h1:5432,h2:5433/hp", [PW]),
    (f"postgresql://:{PW}@db/hp", [PW]),
    (f"postgresql://al ice:{PW}@db/hp", [PW]),
    (f"postgresql://alice:{PW}/db/hp", [PW]),  # the '@' forgotten: the password reads as a port
    (f"postgresql://alice:{PW}@@db/hp", [PW]),
    (f"postgresql:///alice:{PW}@db/hp", [PW]),  # one slash too many
    (f"POSTGRESQL://alice:{PW}@db/hp", [PW]),
    (f"postgresql+psycopg://alice:{PW}@db/hp?connect_timeout=5", [PW]),
    (f"postgresql://alice:{PW}@db/hp#frag", [PW]),
    (f"postgresql://alice@db/hp?password={PW}", [PW]),
    (f"postgresql://alice@db/hp?password={PW}&sslmode=require", [PW]),
    (f"postgresql://alice@db/hp?sslmode=require&password={PW}", [PW]),
    (f"postgresql://alice@db/hp?sslpassword={PW}", [PW]),
    (f"postgresql://alice@db/hp?PassWord={PW}", [PW]),
    ("postgresql://alice@db/hp?password=pa ss wd&sslmode=require", ["pa ss wd"]),
    ("postgresql://alice@db/hp?password=pa&ss&sslmode=require", ["pa&ss"]),
    (f"postgresql://alice@db/hp;password={PW}", [PW]),
    (f"postgresql://alice:{PW}@db/hp?password=Other5ecret", [PW, "Other5ecret"]),
    (f"mysql+pymysql://bob:{PW}@db/hp", [PW]),
    (f"mysql://bob@db/hp?passwd={PW}", [PW]),
    (f"redis://:{PW}@cache:6379/0", [PW]),
    (f"rediss://default:{PW}@cache:6380/0", [PW]),
    (f"redis://{PW}@cache:6379", [PW]),  # a lone user-info, which some Redis clients read as the password
    (f"https://{PW}@tracking.example.com/", [PW]),  # a token
    (f"https://user:{PW}@mlflow.example.com:5000/", [PW]),
    (f"http://host:5000/api?token={PW}", [PW]),
    (f"sqlite:///tmp/x.db?password={PW}", [PW]),
    (f"oracle+oracledb://scott:{PW}@host:1521/?service_name=x", [PW]),
    (f"mssql+pyodbc://sa:{PW}@dsn", [PW]),
    (f"cockroachdb://alice:{PW}@db:26257/hp", [PW]),
]
# strings without '://' that are mistyped URLs, not paths: refused, never echoed, never a file
MISTYPED = [
    f"postgresql:/alice:{PW}@db/hp",
    f"postgresql:alice:{PW}@db/hp",
    f"postgresql//alice:{PW}@db/hp",
    f"alice:{PW}@db/hp",
    f"//alice:{PW}@db/hp",
    f"{PW}@db/hp",
    f" postgresql://alice:{PW}@db/hp",
    f"postgres ql://alice:{PW}@db/hp",
    f"db:5432/{PW}",
    f"mysql:{PW}",
    f"foo:/{PW}",
]


def leaks(text: str, secrets) -> list[str]:
    return [s for s in secrets if s in text]


def test_the_table_has_enough_shapes():
    assert len(SHAPES) >= 30 and len({url for url, _ in SHAPES}) == len(SHAPES)


@pytest.mark.parametrize("url, secrets", SHAPES)
def test_no_shape_shows_its_password(url, secrets):
    shown = urls.mask_url(url)
    assert not leaks(shown, secrets), shown
    assert storage.storage_label(url) == shown and urls.parse(url).shown == shown
    assert shown.lower().startswith(url.split("://")[0].lower() + "://") and urls.MASK in shown
    assert "tracking.example.com" in shown or "tracking" not in url  # the host stays readable
    # a driver quoting any form of it back (decoded, cut at a space) is masked too
    quoted = f"connection failed: password={secrets[-1]!r} dsn={url} pieces={' '.join(secrets)}"
    assert not leaks(urls.mask_message(quoted, url), secrets)


@pytest.mark.parametrize("url, secrets", SHAPES)
def test_the_storage_error_never_shows_the_password(url, secrets, monkeypatch):
    def refuse(url_given, **kwargs):  # a driver that quotes the URL and the decoded password back
        raise RuntimeError(f"could not connect: {url_given} (password {secrets[-1]})")

    monkeypatch.setattr(optuna.storages, "RDBStorage", refuse)
    monkeypatch.setattr(storage, "JournalStorage", lambda backend: refuse(url))
    monkeypatch.setattr(storage, "JournalRedisBackend", lambda text: None)
    with pytest.raises(urls.StorageError) as info:
        storage.open_storage(url)
    assert not leaks(str(info.value), secrets) and "\n" not in str(info.value)


@pytest.mark.parametrize("typo", MISTYPED)
def test_a_mistyped_url_is_refused_unechoed_and_makes_no_file(typo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(urls.StorageError) as info:
        storage.open_storage(typo)
    assert PW not in str(info.value)
    assert main(["report", "--study-name", "s", "--storage", typo]) == 2
    out = capsys.readouterr()
    assert PW not in out.out + out.err and len(out.err.strip().splitlines()) == 1
    assert list(tmp_path.rglob("*")) == []


def test_a_path_is_a_path():
    for path in ("studies/a.journal", "/abs/studies/a.journal", "C:/studies/a.journal", "a b/c.journal"):
        urls.check_not_mistyped(path)  # raises nothing
        assert urls.mask_url(path) == path and not urls.parse(path).is_url


def test_the_default_journal_under_an_odd_out_is_not_refused(tmp_path):
    out = tmp_path / "me@work"  # hpsearch's own path (a Path), not a string a person typed
    storage.open_storage(None, study_name="s", out=out)
    assert (out / "studies" / "s.journal").is_file()


SCHEMES = st.sampled_from(["postgresql", "postgresql+psycopg", "mysql+pymysql", "redis", "rediss", "https", "x-y"])
NAMES = st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=8)
SECRET_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=5, max_size=24
).filter(lambda s: s.strip() == s and urls.MASK not in s)


@settings(max_examples=300, deadline=None)
@given(
    scheme=SCHEMES,
    user=NAMES,
    password=SECRET_TEXT,
    host=NAMES,
    port=st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    db=NAMES,
    query=st.sampled_from(["", "?sslmode=require", "?a=1&b=2"]),
    where=st.sampled_from(["userinfo", "query", "both"]),
)
def test_generated_urls_never_show_the_password(scheme, user, password, host, port, db, query, where):
    plain = f"{scheme} {user} {host} {port} {db} {query}"
    assume(password not in plain)
    userinfo = f"{user}:{password}@" if where != "query" else f"{user}@"
    secret_param = f"{'&' if query else '?'}password={password}" if where != "userinfo" else ""
    url = f"{scheme}://{userinfo}{host}{port}/{db}{query}{secret_param}"
    shown = urls.mask_url(url)
    assert password not in shown
    assert not any(s for s in (password, *password.split()) if len(s) >= urls.MIN_REDACTED and s in urls.redact(url))
    if where == "userinfo":  # the rest of the URL stays readable
        assert shown.endswith(f"{host}{port}/{db}{query}")


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=40))
def test_generated_strings_are_masked_refused_or_plain_paths(text):
    """Any string: a URL is shown masked, a mistyped URL is refused without being echoed, the rest are paths
    that hold no '@', '//' or ':PORT'."""
    if urls.is_url(text):
        userinfo = text.split("://", 1)[1].rpartition("@")[0]
        password = userinfo.partition(":")[2]
        assert len(password) < 3 or password not in urls.mask_url(text).split("://", 1)[1]
        return
    try:
        urls.check_not_mistyped(text)
    except urls.StorageError as exc:
        assert len(text) < 12 or text not in str(exc)
        return
    assert "@" not in text and "//" not in text


def test_everything_printed_or_logged_is_redacted(capsys):
    url = "postgresql://alice:pass word 9x@db/hp"
    with urls.redacting():
        urls.parse(url)
        print(f"the driver said: password 'pass word 9x' for {url}")
        print("word 9x", file=sys.stderr)
        logging.getLogger("optuna.test").warning("retrying with pass word 9x")
    out = capsys.readouterr()
    assert "pass word" not in out.out and "word 9x" not in out.err and urls.MASK in out.out + out.err
    assert sys.stdout is not None and not isinstance(sys.stdout, urls.Redacting)  # restored


# --- end to end: a real `hpsearch` process, its output and every file it wrote -----------------------------

E2E = [
    "postgresql://alice:pass word 9x@127.0.0.1:1/hp",
    "postgresql://alice:p@ss@w0rd9x@127.0.0.1:1/hp",
    "postgresql://alice@127.0.0.1:1/hp?password=pa&ss9x&sslmode=disable",
    "postgresql://alice:Hunter2Pw@127.0.0.1:notaport/hp",
    "postgresql//alice:Hunter2Pw@127.0.0.1/hp",
    "mysql+pymysql://bob:Hunter2Pw@127.0.0.1:1/hp",
    "redis://:Hunter2Pw@127.0.0.1:1/0",
]


def secrets_in(url):
    return [s for s in urls.parse(url).secrets if len(s) >= 4 and s != "alice"] or [PW]


def run_cli(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "hpsearch.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def written(folder: Path) -> str:
    return "\n".join(
        str(p) + "\n" + p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize("url", E2E)
def test_report_against_a_bad_url_never_shows_the_password(url, tmp_path):
    proc = run_cli(["report", "--study-name", "s", "--storage", url, "--out", str(tmp_path / "out")], tmp_path)
    everything = proc.stdout + proc.stderr + written(tmp_path) + "\n".join(str(p) for p in tmp_path.rglob("*"))
    assert proc.returncode == 2 and proc.stderr.startswith("hpsearch: "), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not leaks(everything, secrets_in(url)), everything


@pytest.mark.slow
def test_study_against_a_bad_url_never_shows_the_password(tmp_path):
    url = "postgresql://alice:pass word@9x@127.0.0.1:1/hp?sslpassword=k3y-Secret"
    proc = run_cli(
        ["study", "--storage", url, "--profile", "smoke", "--trials", "1", "--out", str(tmp_path / "out")], tmp_path
    )
    everything = proc.stdout + proc.stderr + written(tmp_path)
    assert proc.returncode == 2 and "cannot open storage postgresql://alice:***@127.0.0.1:1/hp" in proc.stderr
    assert not leaks(everything, ["pass word@9x", "word@9x", "k3y-Secret"]), everything


def test_the_report_page_and_files_never_show_the_password(tmp_path):
    from tests.report.report_fakes import build_study

    from hpsearch.report import write_study_reports

    for number, (url, secrets) in enumerate(SHAPES[:12]):
        study = build_study(f"s{number}")
        write_study_reports(url, f"s{number}", tmp_path, study=study)
        assert not leaks(written(tmp_path / "reports"), secrets), url
    assert "optuna-dashboard" in written(tmp_path / "reports")
