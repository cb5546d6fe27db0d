from __future__ import annotations

import itertools

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from monitor.retry import backoff_delay
from monitor.supervisor import ActorSpec, ActorStatus, Supervisor


class FlakyActor:
    """Crashes on its first `failures` starts, then runs until told to stop."""

    def __init__(self, failures: int, crash_after_start: bool = True) -> None:
        self.failures = failures
        self.crash_after_start = crash_after_start
        self.starts: list[float] = []
        self.stop = trio.Event()

    async def main(self, *, task_status: trio.TaskStatus[None]) -> None:
        self.starts.append(trio.current_time())
        if len(self.starts) <= self.failures:
            if self.crash_after_start:
                task_status.started()
                await trio.sleep(1)
            raise RuntimeError(f"boom {len(self.starts)}")
        task_status.started()
        await self.stop.wait()


async def test_a_crashing_actor_is_restarted_with_growing_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky = FlakyActor(failures=3)
    supervisor = Supervisor(backoff_initial=1, backoff_cap=30, stable_after=60)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, [ActorSpec("flaky", flaky.main)])
        while len(flaky.starts) < 4:
            await trio.sleep(0.5)
        await trio.sleep(0.5)
        (state,) = supervisor.snapshot()
        assert state.status is ActorStatus.RUNNING
        assert state.restarts == 3
        assert state.last_error == "RuntimeError: boom 3"
        # Each run lasted 1 s, then waited 1, 2, 4 s before the next start.
        gaps = [round(b - a, 1) for a, b in zip(flaky.starts, flaky.starts[1:], strict=False)]
        assert gaps == [2.0, 3.0, 5.0]
        flaky.stop.set()
    (state,) = supervisor.snapshot()
    assert state.status is ActorStatus.STOPPED
    assert supervisor.finished.is_set()


async def test_an_actor_down_in_backoff_is_unhealthy_and_others_keep_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    broken = FlakyActor(failures=1_000, crash_after_start=False)
    steady = FlakyActor(failures=0)
    supervisor = Supervisor(backoff_initial=10, backoff_cap=10)
    async with trio.open_nursery() as nursery:
        # Start completes even though one actor never manages to start.
        await nursery.start(
            supervisor.run, [ActorSpec("broken", broken.main), ActorSpec("steady", steady.main)]
        )
        states = {state.name: state for state in supervisor.snapshot()}
        assert states["broken"].status is ActorStatus.BACKOFF
        assert not states["broken"].healthy
        assert states["steady"].healthy
        await trio.sleep(35)
        assert len(broken.starts) == 4  # t=0, 10, 20, 30: capped at 10 s
        nursery.cancel_scope.cancel()


async def test_a_long_stable_run_resets_the_backoff(autojump_clock: trio.testing.MockClock) -> None:
    crash_times = iter([0.0, 0.0, 100.0, 0.0])

    starts: list[float] = []

    async def main(*, task_status: trio.TaskStatus[None]) -> None:
        starts.append(trio.current_time())
        task_status.started()
        await trio.sleep(next(crash_times, 1e9))
        raise RuntimeError("crash")

    supervisor = Supervisor(backoff_initial=1, backoff_cap=60, stable_after=50)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, [ActorSpec("a", main)])
        while len(starts) < 5:
            await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(starts)]
    # backoff 1, 2, then after a 100 s run the backoff is back to 1, then 2.
    assert gaps == [1.0, 2.0, 101.0, 2.0]


@given(st.integers(min_value=0, max_value=500), st.floats(0.01, 10), st.floats(0.01, 600))
def test_backoff_never_exceeds_the_cap_and_never_shrinks(
    failures: int, initial: float, cap: float
) -> None:
    delay = backoff_delay(failures, initial, cap)
    assert 0 <= delay <= cap
    assert backoff_delay(failures + 1, initial, cap) >= delay


async def test_stop_restarting_ends_actors_waiting_in_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    broken = FlakyActor(failures=1_000, crash_after_start=False)
    supervisor = Supervisor(backoff_initial=600, backoff_cap=600)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, [ActorSpec("broken", broken.main)])
        started = trio.current_time()
        supervisor.stop_restarting()
        await supervisor.finished.wait()
        assert trio.current_time() - started < 1  # did not sit out the 600 s backoff
    (state,) = supervisor.snapshot()
    assert state.status is ActorStatus.STOPPED
    assert len(broken.starts) == 1
