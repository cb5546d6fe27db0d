"""Why a connection to PostgreSQL failed: worth waiting for, or never going to work.

At start-up a database that is still booting or not yet listening (a container
starting beside ours) is worth waiting for; a wrong database name, role or
password is not, and waiting out the connect timeout only hides the message the
user needs. libpq does not expose the SQLSTATE of a refused connection, so the
server's message is recognised too (PostgreSQL sends its start-up errors before
the client's locale is known, so they arrive in the server's language; an
unrecognised message counts as transient and is retried until the timeout).

Free of psycopg imports, so the command line can import it cheaply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# SQLSTATEs that no amount of waiting fixes.
PERMANENT_SQLSTATES = frozenset(
    {
        "28000",  # invalid_authorization_specification: unknown role, no pg_hba.conf entry
        "28P01",  # invalid_password
        "3D000",  # invalid_catalog_name: the database does not exist
        "42501",  # insufficient_privilege: no CONNECT privilege
        "42704",  # undefined_object: unrecognized configuration parameter
        "22023",  # invalid_parameter_value
        "08004",  # sqlserver_rejected_establishment_of_sqlconnection
        "08P01",  # protocol_violation
        "0A000",  # feature_not_supported (e.g. a protocol version)
    }
)

# The same problems, as libpq and the server word them.
_PERMANENT_MESSAGES = re.compile(
    "|".join(
        (
            r"password authentication failed",
            r"authentication failed for user",
            r"role \".*\" does not exist",
            r"database \".*\" does not exist",
            r"no pg_hba\.conf entry",
            r"is not permitted to log in",
            r"permission denied for database",
            r"does not have CONNECT privilege",
            r"no password supplied",
            r"invalid value for parameter",
            r"unrecognized configuration parameter",
            r"invalid connection option",
            r"invalid \w+ value",  # libpq: invalid sslmode value, invalid port number ...
            r"invalid port number",
            r"invalid integer value",
            r"invalid URI",
            r"missing \"=\" after",
            r"SSL was required",
            r"SSL is not supported",
            r"server does not support SSL",
            r"unsupported frontend protocol",
        )
    ),
    re.IGNORECASE,
)


class DatabaseRefused(Exception):
    """The database answered, and the answer will not change by waiting.

    The message is one line, already free of any password.
    """


@dataclass(frozen=True)
class ConnectProblem:
    permanent: bool
    reason: str  # one line, secrets removed


def classify(failure: BaseException, url: str) -> ConnectProblem:
    """Judge a failed connection attempt to `url`."""
    sqlstate = getattr(failure, "sqlstate", None)
    text = str(failure)
    if sqlstate is not None:
        permanent = sqlstate in PERMANENT_SQLSTATES
    else:
        permanent = _PERMANENT_MESSAGES.search(text) is not None
    # A malformed connection string is refused before any network traffic.
    if type(failure).__name__ == "ProgrammingError":
        permanent = True
    return ConnectProblem(permanent, reason(text, url))


def reason(text: str, url: str) -> str:
    """The useful part of a psycopg connection error, on one line, without secrets.

    'connection failed: connection to server at "h", port 5432 failed: FATAL:
    database "x" does not exist' becomes 'database "x" does not exist'. With
    several addresses tried (localhost is ::1 and 127.0.0.1), the last
    server-side complaint wins, as it is the most specific.
    """
    fatal = re.findall(r"FATAL:\s+(.*)", text)
    if fatal:
        text = fatal[-1]
    else:
        # libpq's second line is a hint ("Is the server running ...?"), not the problem.
        text = (text.strip().splitlines() or [""])[0]
        text = re.sub(r"^(connection failed|connection is bad):\s*", "", text)
        text = re.sub(r"^connection to server (at|on) .*? failed:\s*", "", text)
    line = " ".join(text.split()).rstrip(".") or "no reason given"
    return _without_secrets(line, url)


def _without_secrets(text: str, url: str) -> str:
    for secret in _passwords(url):
        text = text.replace(secret, "***")
    return text


def _passwords(url: str) -> list[str]:
    found = []
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    found += [unquote(m) for m in re.findall(r"(?i)(?:^|[?&\s])password=([^&\s]+)", url)]
    # Longest first, so a password containing another is replaced whole.
    return sorted({p for p in found if p}, key=len, reverse=True)
