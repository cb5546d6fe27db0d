"""`monitor tail`, run as a person runs it, against the real service."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import trio

from conftest import MakeKey, RunningService, StartService
from monitor.config import Settings
from monitor.tail import websocket_url
from processes import MONITOR, clean_environment, run_monitor

pytestmark = pytest.mark.slow


@dataclass
class Output:
    """What a stream of the process printed so far; `wait_for` wakes on each new chunk."""

    data: bytearray = field(default_factory=bytearray)
    grew: trio.Event = field(default_factory=trio.Event)
    ended: bool = False

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")

    async def pump(self, stream: trio.abc.ReceiveStream) -> None:
        async for chunk in stream:
            self.data.extend(chunk)
            self.grew.set()
            self.grew = trio.Event()
        self.ended = True
        self.grew.set()

    async def wait_for(self, done: Callable[[str], bool], timeout: float = 20) -> str:
        with trio.fail_after(timeout):
            while not done(self.text):
                assert not self.ended, f"the stream ended before it was expected: {self.text}"
                await self.grew.wait()
        return self.text


@dataclass
class Tail:
    process: trio.Process
    stdout: Output
    stderr: Output

    async def stop(self, signum: signal.Signals = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        with trio.fail_after(20):
            return await self.process.wait()


@asynccontextmanager
async def tailing(*args: str, key: str) -> AsyncIterator[Tail]:
    process = await trio.lowlevel.open_process(
        [*MONITOR, "tail", *args],
        env=clean_environment(MONITOR_API_KEY=key),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    tail = Tail(process, Output(), Output())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tail.stdout.pump, process.stdout)
        nursery.start_soon(tail.stderr.pump, process.stderr)
        try:
            yield tail
        finally:
            if process.returncode is None:
                process.kill()
            with trio.move_on_after(10):
                await process.wait()


async def post_event(base_url: str, key: str, event: dict[str, object]) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        response = await http.post("/api/v1/events", json=event, headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def test_tail_prints_each_matching_event_as_one_json_line_and_stops_on_ctrl_c(
    running: RunningService, make_key: MakeKey
) -> None:
    _, reader = await make_key("read")
    _, writer = await make_key("write")
    async with tailing(
        "--url", running.base_url, "--filter", '{"min_level": "error"}', key=reader
    ) as tail:
        await tail.stderr.wait_for(lambda text: "following events:realtime" in text)
        await post_event(running.base_url, writer, {"type": "deploy", "level": "info"})
        error = await post_event(
            running.base_url, writer, {"type": "exception", "level": "error", "message": "é 42"}
        )
        first = await tail.stdout.wait_for(lambda text: text.endswith("\n"))
        assert [json.loads(line) for line in first.splitlines()] == [error]
        assert await tail.stop() == 0
    assert "Traceback" not in tail.stderr.text
    assert reader not in tail.stderr.text + tail.stdout.text


async def test_a_reader_that_leaves_ends_it_quietly(
    running: RunningService, make_key: MakeKey
) -> None:
    _, reader = await make_key("read")
    _, writer = await make_key("write")
    command = " ".join([*MONITOR, "tail", "--url", running.base_url])
    process = await trio.lowlevel.open_process(
        ["bash", "-c", f"set -o pipefail; {command} | head -n 1"],
        env=clean_environment(MONITOR_API_KEY=reader),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = Output(), Output()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stdout.pump, process.stdout)
        nursery.start_soon(stderr.pump, process.stderr)
        await stderr.wait_for(lambda text: "following" in text)
        await post_event(running.base_url, writer, {"type": "first"})
        await stdout.wait_for(lambda text: text.endswith("\n"))
        # head has left: the next line cannot be written, and tail ends by itself.
        await post_event(running.base_url, writer, {"type": "second"})
        with trio.fail_after(20):
            assert await process.wait() == 0, stderr.text
    assert json.loads(stdout.text)["type"] == "first"
    assert stderr.text.count("\n") == 1, stderr.text  # only "following ..."


async def test_sigterm_stops_it_cleanly_too(running: RunningService, make_key: MakeKey) -> None:
    _, reader = await make_key("read")
    async with tailing("--url", running.base_url, "--channel", "stats", key=reader) as tail:
        await tail.stderr.wait_for(lambda text: "following stats" in text)
        assert await tail.stop(signal.SIGTERM) == 0
    assert "Traceback" not in tail.stderr.text


async def test_a_server_that_stops_ends_it_with_the_reason(
    running: RunningService, make_key: MakeKey
) -> None:
    _, reader = await make_key("read")
    async with tailing("--url", running.base_url, key=reader) as tail:
        await tail.stderr.wait_for(lambda text: "following" in text)
        await running.shutdown()
        with trio.fail_after(20):
            assert await tail.process.wait() == 1
        await tail.stderr.wait_for(lambda text: text.endswith(")\n"))
    assert tail.stderr.text.splitlines()[-1].startswith(
        "monitor: the server is stopping (close code 1001"
    )


async def test_an_unknown_key_is_refused_in_one_line(running: RunningService) -> None:
    result = await run_monitor(
        "tail",
        "--url",
        running.base_url,
        env=clean_environment(MONITOR_API_KEY="mon_abcdefgh_" + "x" * 40),
    )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "monitor: the server refused the connection (close code 1008: invalid API key)\n"
    )


async def test_a_key_that_may_not_read_is_refused_in_one_line(
    running: RunningService, make_key: MakeKey
) -> None:
    _, agent = await make_key("ingest")
    result = await run_monitor(
        "tail", "--url", running.base_url, env=clean_environment(MONITOR_API_KEY=agent)
    )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "monitor: the server refused the connection "
        "(close code 1008: streaming needs the read role; the key has ingest)\n"
    )


async def test_a_filter_the_server_refuses_is_reported(
    running: RunningService, make_key: MakeKey
) -> None:
    _, reader = await make_key("read")
    result = await run_monitor(
        "tail",
        "--url",
        running.base_url,
        "--filter",
        '{"min_level": "loud"}',
        env=clean_environment(MONITOR_API_KEY=reader),
    )
    assert result.returncode == 1
    assert result.stderr.decode().startswith("monitor: the server refused the subscription: ")
    assert "min_level" in result.stderr.decode()


async def test_a_refused_upgrade_says_the_status_and_when_to_retry(
    start_service: StartService, settings: Settings, make_key: MakeKey
) -> None:
    running = await start_service(settings.replace(rate_limit_per_ip=1))
    _, reader = await make_key("read")
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        await http.get("/api/v1/events", headers={"X-API-Key": reader})  # the one allowed
    result = await run_monitor(
        "tail", "--url", running.base_url, env=clean_environment(MONITOR_API_KEY=reader)
    )
    assert result.returncode == 1
    message = result.stderr.decode()
    assert message.startswith(f"monitor: {websocket_url(running.base_url)} answered HTTP 429 ")
    assert "; retry in " in message and message.endswith(")\n")


async def test_no_service_listening_is_one_line_not_a_traceback() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await run_monitor(
        "tail",
        "--url",
        f"http://127.0.0.1:{port}",
        env=clean_environment(MONITOR_API_KEY="mon_abcdefgh_" + "x" * 40),
    )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"monitor: cannot connect to ws://127.0.0.1:{port}/ws: connection refused\n"
    )


async def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # the kernel accepts; nobody ever answers the upgrade
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = await run_monitor(
            "tail",
            "--url",
            f"http://127.0.0.1:{port}",
            "--connect-timeout",
            "0.5",
            env=clean_environment(MONITOR_API_KEY="mon_abcdefgh_" + "x" * 40),
        )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"monitor: no answer from ws://127.0.0.1:{port}/ws within 0.5 s\n"
    )


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ([], "--key or MONITOR_API_KEY"),
        (["--key", "k", "--filter", "{"], "is not JSON"),
        (["--key", "k", "--filter", "[1]"], "is not a JSON object"),
        (["--key", "k", "--channel", "everything"], "--channel"),
        (["--key", "k", "--url", "ftp://host"], "--url"),
        (["--key", "k", "--connect-timeout", "0"], "--connect-timeout"),
    ],
)
async def test_bad_arguments_are_usage_errors(args: list[str], complaint: str) -> None:
    result = await run_monitor("tail", *args, env=clean_environment())
    assert result.returncode == 2
    assert complaint in result.stderr.decode()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws"),
        ("https://monitor.example/", "wss://monitor.example/ws"),
        ("ws://[::1]:8080/ws/authenticated", "ws://[::1]:8080/ws/authenticated"),
        ("wss://monitor.example/behind/proxy/ws", "wss://monitor.example/behind/proxy/ws"),
    ],
)
def test_websocket_urls(given: str, expected: str) -> None:
    assert websocket_url(given) == expected


@pytest.mark.parametrize("given", ["monitor.example:8080", "ftp://x", "http://", "localhost"])
def test_urls_that_are_not_websocket_urls(given: str) -> None:
    with pytest.raises(ValueError):
        websocket_url(given)
