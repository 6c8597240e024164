"""Storage URLs as text: which kind of storage a string names, and how to show it without its secrets.

Database URLs are parsed with SQLAlchemy's own parser (the one RDBStorage uses), so what is masked is what
the driver would receive: the user-info password and any secret-looking query parameter (`?password=`,
`?sslpassword=`, tokens). A string that looks like a mistyped URL (`postgresql:/user:pw@host/db`, one slash)
is refused: taken as a journal path it would silently become a local file named after the password.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hpsearch.errors import HpsearchError

MASK = "***"
# query parameters whose value is a secret (libpq's password/sslpassword, MySQL's passwd, tokens, keys)
SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key", re.IGNORECASE)
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
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)@")
_QUERY = re.compile(r"(?P<head>[?&;](?P<key>[^=&\s]+)=)(?P<secret>[^&\s]*)")


class StorageError(HpsearchError):
    """A storage that cannot be opened or reached; the message names it with its password masked."""


def is_url(text: str) -> bool:
    return "://" in text


def check_not_mistyped(text: str) -> None:
    """Refuse `scheme:/...` and a database scheme without `//` (`postgresql:user@host/db`): not a path anyone
    means. One-letter schemes are Windows drives (C:/x.journal). The rest is not echoed: it may hold a password."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]+):(?!//)", text)
    if not match:
        return
    scheme = match.group(1)
    if scheme.split("+")[0].lower() in DATABASE_SCHEMES or text[match.end() :].startswith("/"):
        raise StorageError(
            f"storage '{scheme}:…' is not a valid URL: a URL needs '//' after '{scheme}:'; "
            f"write e.g. {scheme}://USER:PASSWORD@HOST/DB (sqlite:///file.db for a file), or pass "
            f"a journal file path"
        )


def secrets_of(url: str) -> list[str]:
    """Every secret in `url`, as written and as decoded (what a driver may quote back in an error)."""
    found = [m.group("secret") for m in _USERINFO.finditer(url)]
    found += [m.group("secret") for m in _QUERY.finditer(url) if SECRET_PARAM.search(m.group("key"))]
    try:
        parsed = make_url(url)
        found.append(parsed.password or "")
        found += [str(v) for k, v in parsed.query.items() if SECRET_PARAM.search(k)]
    except (ArgumentError, ValueError):
        pass
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s and s != MASK}, key=len, reverse=True)


def mask_url(url: str) -> str:
    """The storage as it may be shown: passwords (user info, secret query parameters) replaced by ***.
    Also safe on free text that quotes URLs (a driver's error message)."""
    text = str(url)
    if is_url(text) and not any(c.isspace() for c in text):
        try:
            parsed = make_url(text)
            query = {k: (MASK if SECRET_PARAM.search(k) else v) for k, v in parsed.query.items()}
            return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", MASK)
        except (ArgumentError, ValueError):
            pass  # not SQLAlchemy's syntax (e.g. a bad port): mask by pattern
    text = _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    return _QUERY.sub(
        lambda m: m.group("head") + (MASK if SECRET_PARAM.search(m.group("key")) else m.group("secret")), text
    )


def mask_message(message: str, url: str) -> str:
    """A driver's error message about `url`, with every secret of `url` (as written or decoded) masked."""
    for secret in secrets_of(url):
        message = message.replace(secret, MASK)
    return mask_url(message)
