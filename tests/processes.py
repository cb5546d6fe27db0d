"""Run `monitor` as a real subprocess, the way a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

MONITOR = [sys.executable, "-m", "monitor"]


# Given to every process by default, so that one run with DATABASE_URL and no
# data directory writes no key file into the current directory;
# MONITOR_SECRET_KEY="" brings back the generated key.
TEST_SECRET_KEY = "test-secret-key-of-the-suite-0123456789"


def clean_environment(**extra: str) -> dict[str, str]:
    """The environment minus any MONITOR_* or database settings of the caller."""
    dropped = {"PORT", "DATABASE_URL", "REDIS_URL", "LOG_LEVEL"}
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("MONITOR_") and k not in dropped
    }
    environ["MONITOR_SECRET_KEY"] = TEST_SECRET_KEY
    environ.update(extra)
    return environ


async def run_monitor(*args: str, env: Mapping[str, str]) -> trio.CompletedProcess[bytes]:
    with trio.fail_after(60):
        return await trio.run_process(
            [*MONITOR, *args], env=env, capture_stdout=True, capture_stderr=True, check=False
        )


@dataclass
class ServeProcess:
    process: trio.Process
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    port: int | None = None
    listening: trio.Event = field(default_factory=trio.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict[str, object]]:
        lines = []
        for raw in self.stderr.decode(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"raw": raw})
        return lines

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 20) -> int:
        with trio.fail_after(timeout):
            return await self.process.wait()


async def _pump(
    stream: trio.abc.ReceiveStream, sink: bytearray, serve: ServeProcess | None
) -> None:
    async for chunk in stream:
        sink.extend(chunk)
        if serve is not None and serve.port is None:
            for line in serve.log_lines():
                if line.get("msg") == "listening":
                    binds = line["binds"]
                    assert isinstance(binds, list)
                    serve.port = int(str(binds[0]).rsplit(":", 1)[1])
                    serve.listening.set()


@asynccontextmanager
async def serving(
    *args: str, env: Mapping[str, str], timeout: float = 30
) -> AsyncIterator[ServeProcess]:
    """Start `monitor serve --port 0 ...`; wait until it listens; kill it if still alive at exit."""
    process = await trio.lowlevel.open_process(
        [*MONITOR, "serve", "--port", "0", *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    serve = ServeProcess(process)
    async with trio.open_nursery() as nursery:
        assert process.stdout is not None and process.stderr is not None
        nursery.start_soon(_pump, process.stdout, serve.stdout, None)
        nursery.start_soon(_pump, process.stderr, serve.stderr, serve)
        try:
            with trio.fail_after(timeout):
                async with trio.open_nursery() as waiting:

                    async def exited_early() -> None:
                        await process.wait()
                        waiting.cancel_scope.cancel()

                    async def listened() -> None:
                        await serve.listening.wait()
                        waiting.cancel_scope.cancel()

                    waiting.start_soon(exited_early)
                    waiting.start_soon(listened)
            if not serve.listening.is_set():
                raise AssertionError(f"monitor serve exited: {serve.stderr.decode()[-2000:]}")
            yield serve
        finally:
            if process.returncode is None:
                process.kill()
            with trio.move_on_after(10):
                await process.wait()
