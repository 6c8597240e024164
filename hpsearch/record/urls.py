"""Storage (and tracking) strings as text: which kind of place a string names, and how to show it without its
secrets.

A string with `scheme://` is a URL, parsed once here (`parse`), with no trust in its shape: the user-info is
everything between `://` and the LAST `@` (a password may hold `@`, `:`, `/`, `?`, `#` or spaces, encoded or
not), and it is masked whole, except for a plain user name before its first `:`. A port that is not a number
(`host:pw/db`, a forgotten `@`) is masked, and so is the value of every secret-looking query parameter
(`?password=`, `?sslpassword=`, tokens, keys) up to the next `&name=`. What is shown is built from the parts
that are not secret; nothing is shown by substituting the password out of the text, so no shape of it leaks.

Every secret parsed is also remembered for the process (`redact`): cli.py passes everything it prints through
it, so a driver that quotes the password back (decoded, cut at a space) is masked too.

A string without `://` is a path; one that looks like a mistyped URL (a scheme-like prefix, `@`, `//` or a
`:port`) is refused (`check_not_mistyped`): taken as a journal path it would silently become a local file
named after the password. The refusal never echoes the string.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, unquote_plus

from hpsearch.errors import HpsearchError

MASK = "***"
# query parameters whose value is a secret (libpq's password/sslpassword, MySQL's passwd, tokens, keys)
SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)
# schemes that name a database (SQLAlchemy dialects and Optuna's Redis journal); driver suffixes (+psycopg) allowed
DATABASE_SCHEMES = {
    "postgresql",
    "postgres",
    "mysql",
    "mariadb",
    "sqlite",
    "oracle",
    "mssql",
    "cockroachdb",
    "redis",
    "rediss",
}
SQL_SCHEMES = DATABASE_SCHEMES - {"redis", "rediss"}
MIN_REDACTED = 3  # secrets shorter than this are masked where parsed, but not searched for in free text
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")
_PORTS = re.compile(r"\d*(,[A-Za-z0-9.\-]+(:\d+)?)*")  # a port, or libpq's several hosts: 5432,host2:5433
_PLAIN_USER = re.compile(r"[A-Za-z0-9._~\-]{0,64}")  # a user name that can be shown
# in a query: `name=`, after ?, &, ; or #; a secret's value runs to the next separator that starts `name=`
_PARAM = re.compile(r"(?P<sep>[?&;#])(?P<key>[^=&;#?]*)=")
_NEXT_PARAM = re.compile(r"[&;#](?=[A-Za-z_][A-Za-z0-9_.\-]*=)")
# in free text (a driver's message): a URL's user-info up to the last '@' before white space, and the value of
# a secret-looking parameter
_TEXT_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://)\S*@")
_TEXT_PARAM = re.compile(r"(?P<head>[?&;#][^=&;#?\s]*(?:" + SECRET_PARAM.pattern + r")[^=&;#?\s]*=)[^&;#\s]*", re.I)


class StorageError(HpsearchError):
    """A storage that cannot be opened or reached; the message names it with its password masked."""


@dataclass(frozen=True)
class Location:
    """A storage or tracking string, parsed once: `text` as given (for the driver only), `shown` with every
    secret masked (for people: consoles, pages, files), `secrets` what was masked (as written and decoded)."""

    text: str
    scheme: str | None  # None: a path
    shown: str
    secrets: tuple[str, ...] = ()

    @property
    def is_url(self) -> bool:
        return self.scheme is not None


def is_url(text: str) -> bool:
    return _SCHEME.match(str(text)) is not None


def parse(text: str | Path) -> Location:
    """A URL split into what may be shown and what is secret; a path as it is (check_not_mistyped refuses the
    paths that are mistyped URLs). The secrets are remembered for `redact`."""
    text = str(text)
    match = _SCHEME.match(text)
    if not match:
        return Location(text, None, text)
    scheme, rest = match.group("scheme"), text[match.end() :]
    secrets: list[str] = []
    file_path = scheme.split("+")[0].lower() == "sqlite" and rest.startswith("/")  # sqlite:///a@b.db holds no user
    at = -1 if file_path else _userinfo_end(rest)
    userinfo, hostpart = (rest[:at], rest[at + 1 :]) if at >= 0 else ("", rest)
    shown_user = _shown_userinfo(scheme, userinfo, secrets) + "@" if at >= 0 else ""
    cut = re.search(r"[/?#]", hostpart)
    authority, tail = (hostpart[: cut.start()], hostpart[cut.start() :]) if cut else (hostpart, "")
    location = Location(
        text,
        scheme,
        f"{scheme}://{shown_user}{_shown_authority(authority, secrets)}{_shown_query(tail, secrets)}",
        _with_decoded(secrets),
    )
    remember(location.secrets)
    return location


def _shown_userinfo(scheme: str, userinfo: str, secrets: list[str]) -> str:
    """`user:***` for a plain user name with a password, the user alone where a lone name is a database's user,
    otherwise *** for the whole user-info."""
    user, colon, password = userinfo.partition(":")
    if colon:
        secrets += [password, userinfo]
        return f"{user}:{MASK}" if _PLAIN_USER.fullmatch(user) else MASK
    if scheme.split("+")[0].lower() in SQL_SCHEMES and _PLAIN_USER.fullmatch(userinfo):
        return userinfo  # SQLAlchemy reads a lone user-info as the user name
    secrets.append(userinfo)  # elsewhere it may be a password (redis://PASSWORD@host) or a token (https://TOKEN@)
    return MASK


def _shown_authority(authority: str, secrets: list[str]) -> str:
    """host[:port], with a port that is not a number masked (`alice:pw/db`: an '@' forgotten)."""
    bracket = authority.find("]") + 1 if authority.startswith("[") else 0  # an [IPv6] host holds ':'
    host, colon, port = authority[bracket:].partition(":")
    if colon and not _PORTS.fullmatch(port):
        secrets.append(port)
        return f"{authority[:bracket]}{host}:{MASK}"
    return authority


def _secret_values(text: str) -> list[tuple[int, int]]:
    """Where the value of each secret-looking parameter lies in `text`: from after `name=` to the next
    separator that starts another `name=` (a password may hold '&' or '@'), or the end."""
    spans, position = [], 0
    for param in _PARAM.finditer(text):
        if param.start() < position or not SECRET_PARAM.search(unquote(param.group("key"))):
            continue
        following = _NEXT_PARAM.search(text, param.end())
        position = following.start() if following else len(text)
        spans.append((param.end(), position))
    return spans


def _shown_query(tail: str, secrets: list[str]) -> str:
    """The path, query and fragment, with the value of every secret-looking parameter masked."""
    shown, position = [], 0
    for start, end in _secret_values(tail):
        shown += [tail[position:start], MASK]
        secrets.append(tail[start:end])
        position = end
    return "".join(shown) + tail[position:]


def _userinfo_end(rest: str) -> int:
    """Where the user-info ends: the last '@' that is not inside a secret parameter's value (-1: none)."""
    spans = _secret_values(rest)
    at = rest.rfind("@")
    while at >= 0 and any(start <= at < end for start, end in spans):
        at = rest.rfind("@", 0, at)
    return at


def _with_decoded(secrets: list[str]) -> tuple[str, ...]:
    """The secrets as written, decoded (%40 -> @, + -> space), unquoted, and the pieces a driver may quote back
    after splitting them its own way (at a space, or at an '@' it took for the host's): each piece of at least
    MIN_REDACTED characters. Longest first, so a longer one is masked before a piece of it."""
    found = set()
    for secret in secrets:
        for form in {secret, unquote(secret), unquote_plus(secret)}:
            found.update((form, form.strip("'\"")))
            parts = form.split("@")
            pieces = [*form.split(), *("@".join(parts[:i]) for i in range(1, len(parts)))]
            pieces += ["@".join(parts[i:]) for i in range(1, len(parts))]
            found.update(p.strip("'\"") for p in pieces if len(p.strip("'\"")) >= MIN_REDACTED)
    return tuple(sorted((s for s in found if s and s != MASK), key=lambda s: (-len(s), s)))


def check_not_mistyped(text: str) -> None:
    """Refuse a string without '://' that looks like a mistyped URL rather than a path: a scheme-like prefix
    (`postgresql:/u:pw@h/db`, `mysql:db`), an '@', a '//' or a ':port'. One-letter schemes are Windows drives
    (C:/x.journal). The string is not echoed: it may hold a password."""
    text = str(text)
    if is_url(text):
        return
    prefix = re.match(r"\s*([A-Za-z][A-Za-z0-9+.\-]+):", text)
    if prefix:
        scheme = prefix.group(1)
        raise StorageError(
            f"storage '{scheme}:…' is not a valid URL: a URL needs '//' after '{scheme}:'; "
            f"write e.g. {scheme}://USER:PASSWORD@HOST/DB (sqlite:///file.db for a file), or pass "
            f"a journal file path"
        )
    sign = next(
        (
            s
            for s, found in (("@", "@" in text), ("//", "//" in text), (":PORT", re.search(r":\d+(/|$)", text)))
            if found
        ),
        None,
    )
    if sign:
        raise StorageError(
            f"storage looks like a mistyped URL, not a journal path (it holds '{sign}'); write a URL as "
            f"SCHEME://USER:PASSWORD@HOST/DB, or pass a journal file path without '@', '//' or ':PORT'"
        )


def secrets_of(url: str) -> list[str]:
    """Every secret in `url`, as written and as decoded (what a driver may quote back in an error)."""
    return list(parse(url).secrets)


def mask_url(text: str | Path) -> str:
    """The storage as it may be shown: a URL with its secrets masked (parse), a path as it is. Free text that
    quotes URLs (a driver's error message): every URL's user-info and secret parameters masked, and every
    secret parsed so far in this process (redact)."""
    text = str(text)
    if is_url(text):
        return parse(text).shown
    text = _TEXT_USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    return redact(_TEXT_PARAM.sub(lambda m: m.group("head") + MASK, text))


def mask_message(message: str, url: str) -> str:
    """A driver's error message about `url`, with every secret of `url` (as written or decoded) masked."""
    for secret in parse(url).secrets:
        message = message.replace(secret, MASK)
    return mask_url(message)


# --- the process's secrets, for everything printed ---------------------------------------------------------

_SEEN: set[str] = set()
_SEEN_LOCK = threading.Lock()


def remember(secrets) -> None:
    with _SEEN_LOCK:
        _SEEN.update(s for s in secrets if len(s) >= MIN_REDACTED)


def forget() -> None:
    """Forget the secrets remembered so far (a new process knows none; tests start each case like one)."""
    with _SEEN_LOCK:
        _SEEN.clear()


def redact(text: str) -> str:
    """`text` with every secret parsed so far in this process masked, longest first."""
    if not _SEEN:
        return text
    for secret in sorted(_SEEN, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class Redacting:
    """A text stream that passes what is written through `redact`; the rest (isatty, fileno, encoding, flush)
    is the wrapped stream's."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(redact(text))
        return len(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def redacting() -> Iterator[None]:
    """While it lasts, nothing this process prints or logs shows a secret parsed here: stdout and stderr pass
    through `redact`, and so does every log record's message (a logging handler keeps the stream it was made
    with, so records are masked where they are made)."""
    streams, make_record = (sys.stdout, sys.stderr), logging.getLogRecordFactory()

    def masked_record(*args, **kwargs):
        record = make_record(*args, **kwargs)
        if _SEEN:
            record.msg, record.args = redact(record.getMessage()), ()
        return record

    sys.stdout, sys.stderr = Redacting(sys.stdout), Redacting(sys.stderr)
    logging.setLogRecordFactory(masked_record)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams
        logging.setLogRecordFactory(make_record)
