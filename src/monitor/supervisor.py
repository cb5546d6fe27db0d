"""One-for-one supervision: each actor restarts on its own after a crash.

An actor is `async def run(*, task_status)` (its channels and dependencies
bound beforehand with functools.partial). The supervisor starts each one, logs
the traceback when one raises, and restarts it after a capped exponential
backoff; a run that lasted `stable_after` seconds resets the backoff. An actor
that returns normally (its inbox was closed at shutdown) is not restarted.

Channels are created outside the actor, by whoever wires the service, so they
survive a restart: messages sent while an actor is down wait in its inbox.

Each actor's state (status, restarts, last error) is kept here and read by
`/health/ready` and `/stats` through `snapshot()`.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from monitor.retry import backoff_delay, describe

log = logging.getLogger(__name__)

ActorMain = Callable[..., Awaitable[None]]


class ActorStatus(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"  # crashed, waiting to restart
    STOPPED = "stopped"  # returned normally


@dataclass(frozen=True)
class ActorSpec:
    name: str
    main: ActorMain  # called as main(task_status=...)
    # True: the actor returns by itself once its inbox is closed (it drains).
    # False: it has nothing to drain and is cancelled when the service stops.
    drains: bool = True


@dataclass(frozen=True)
class ActorSnapshot:
    name: str
    status: ActorStatus
    restarts: int
    last_error: str | None
    last_error_at: float | None  # Unix time

    @property
    def healthy(self) -> bool:
        return self.status in (ActorStatus.RUNNING, ActorStatus.STOPPED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


@dataclass
class _ActorState:
    name: str
    status: ActorStatus = ActorStatus.STARTING
    restarts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    first_attempt_done: trio.Event = field(default_factory=trio.Event)


class Supervisor:
    def __init__(
        self,
        *,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
        stable_after: float = 60.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._stable_after = stable_after
        self._wall_clock = wall_clock
        self._states: dict[str, _ActorState] = {}
        self.finished = trio.Event()  # set when every actor has returned
        self._stopping = trio.Event()

    def snapshot(self) -> list[ActorSnapshot]:
        return [
            ActorSnapshot(s.name, s.status, s.restarts, s.last_error, s.last_error_at)
            for s in self._states.values()
        ]

    async def run(
        self,
        actors: Sequence[ActorSpec],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run every actor until all have returned.

        Reports started once each actor has started or failed its first attempt,
        so one broken actor cannot hold up the service's start.
        """
        names = [actor.name for actor in actors]
        if len(set(names)) != len(names):
            raise ValueError(f"actor names must be unique: {names}")
        async with trio.open_nursery() as nursery:
            for actor in actors:
                state = _ActorState(actor.name)
                self._states[actor.name] = state
                nursery.start_soon(self._keep_running, actor, state, name=f"actor:{actor.name}")
            for state in self._states.values():
                await state.first_attempt_done.wait()
            task_status.started()
        self.finished.set()

    def stop_restarting(self) -> None:
        """At shutdown: an actor that crashes from now on, or waits in backoff, stays stopped."""
        self._stopping.set()

    async def _keep_running(self, actor: ActorSpec, state: _ActorState) -> None:
        consecutive_failures = 0
        while True:
            state.status = ActorStatus.STARTING
            began = trio.current_time()
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(self._call, actor)
                    state.status = ActorStatus.RUNNING
                    state.first_attempt_done.set()
                    if not actor.drains:
                        nursery.start_soon(self._cancel_when_stopping, nursery.cancel_scope)
            except Exception as failure:
                state.first_attempt_done.set()
                state.last_error = describe(failure)
                state.last_error_at = self._wall_clock()
                if trio.current_time() - began >= self._stable_after:
                    consecutive_failures = 0
                consecutive_failures += 1
                delay = backoff_delay(
                    consecutive_failures, self._backoff_initial, self._backoff_cap
                )
                log.error(
                    "actor crashed; restarting",
                    exc_info=failure,
                    extra={"actor": actor.name, "restart_in_s": delay},
                )
                state.status = ActorStatus.BACKOFF
                with trio.move_on_after(delay):
                    await self._stopping.wait()
                if self._stopping.is_set():
                    break
                state.restarts += 1
                continue
            break
        state.status = ActorStatus.STOPPED
        state.first_attempt_done.set()
        log.info("actor stopped", extra={"actor": actor.name})

    async def _cancel_when_stopping(self, scope: trio.CancelScope) -> None:
        await self._stopping.wait()
        scope.cancel()

    @staticmethod
    async def _call(actor: ActorSpec, *, task_status: trio.TaskStatus[None]) -> None:
        await actor.main(task_status=task_status)
