"""`monitor serve` in a process of its own, for benchmarks: its port, RSS, CPU and errors."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import trio

from common import say


@dataclass
class ServerProcess:
    process: trio.Process
    port: int
    errors: list[str] = field(default_factory=list)  # error lines of its log, kept

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU the process has used."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_server(
    url: str,
    nursery: trio.Nursery,
    settings: Mapping[str, str] | None = None,
    log_to: Path | None = None,
    port: int = 0,
) -> ServerProcess:
    """Start `monitor serve` on port 0 against `url`; return once it listens.

    Its log is read by a task in `nursery`: warnings and errors are printed,
    errors also kept in `errors`. With `log_to`, the log goes to that file
    instead and nothing reads it meanwhile (the caller reads it when it
    wants): a service answering many requests writes a line for each, and
    through a pipe it would wait whenever its reader fell behind. `port`: a
    given one, for a caller that must know its URL before the start (a
    public URL a browser signs in through).
    """
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
        "MONITOR_DATABASE_URL": url,
        "MONITOR_HOST": "127.0.0.1",
        "MONITOR_LOG_LEVEL": "info",  # the "listening" line gives the port
        "MONITOR_KEY_USAGE_FLUSH_INTERVAL": "3600",
        **(settings or {}),
    }
    command = [sys.executable, "-m", "monitor", "serve", "--port", str(port)]
    if log_to is not None:
        log = await trio.to_thread.run_sync(functools.partial(open, log_to, "wb"))
        try:
            process = await trio.lowlevel.open_process(
                command, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
        finally:
            log.close()  # the service has its own descriptor
        return ServerProcess(process, await _port_in(log_to, process))
    process = await trio.lowlevel.open_process(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    port: list[int] = []
    errors: list[str] = []
    listening = trio.Event()

    async def pump() -> None:
        assert process.stderr is not None
        buffer = b""
        async for chunk in process.stderr:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if not port and (found := _listening_port(line)) is not None:
                    port.append(found)
                    listening.set()
                elif b'"level": "error"' in line or b'"level": "critical"' in line:
                    errors.append(line.decode(errors="replace")[:300])
                    say("server:", errors[-1])
                elif b'"level": "warning"' in line:
                    say("server:", line.decode(errors="replace")[:300])

    nursery.start_soon(pump)
    with trio.fail_after(60):
        await listening.wait()
    return ServerProcess(process, port[0], errors)


def _listening_port(line: bytes) -> int | None:
    if b'"msg": "listening"' not in line:
        return None
    binds = msgspec.json.decode(line)["binds"]
    return int(binds[0].rsplit(":", 1)[1])


async def _port_in(log: Path, process: trio.Process) -> int:
    """The port from the "listening" line of a log file being written (bounded wait)."""
    with trio.fail_after(60):
        while process.returncode is None:
            for line in (await trio.Path(log).read_bytes()).split(b"\n"):
                port = _listening_port(line)
                if port is not None:
                    return port
            await trio.sleep(0.05)  # a file gives no readiness signal
    raise RuntimeError(f"monitor serve exited ({process.returncode}): see {log}")
