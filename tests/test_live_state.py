"""The live path's state has one owner: connections hold their subscriptions, the fan-out
only an index of them, rebuilt when it restarts."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MakeKey, StartService
from monitor.actors.live import fanout
from monitor.config import Settings
from monitor.domain.credentials import KEY, Credential
from monitor.domain.live_filters import EVENTS, METRICS, STATS, EventStreamFilter, StreamFilter
from monitor.live_connections import DataChunk, Entry, LiveConnections, Outbox
from monitor.messages import Disconnect, LiveEvent, SubscriptionsChanged
from monitor.supervisor import ActorStatus
from ws_helpers import Message, barrier, connect, items_until, receive, send, subscribe

# --- the registry and the index, against any sequence of changes ------------------------

NAMES = ("a", "b", "c")
SUBSCRIPTIONS: tuple[tuple[str, StreamFilter | None], ...] = (
    (EVENTS, None),
    (EVENTS, EventStreamFilter(type="x")),
    (EVENTS, EventStreamFilter(type="y")),
    (METRICS, None),
    (STATS, None),
)
connection = st.integers(0, 5)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("open")),
        # the reader: the connection's subscriptions change, then the fan-out is told
        st.tuples(
            st.just("subscribe"), connection, st.sampled_from(NAMES), st.sampled_from(SUBSCRIPTIONS)
        ),
        st.tuples(
            st.just("unsubscribe"),
            connection,
            st.none() | st.sampled_from(NAMES),
            st.none() | st.sampled_from((EVENTS, METRICS, STATS)),
        ),
        # the fan-out could not be told (its inbox stayed full): the change is undone
        st.tuples(
            st.just("subscribe_undone"),
            connection,
            st.sampled_from(NAMES),
            st.sampled_from(SUBSCRIPTIONS),
        ),
        # the watchdog or the credential watch closes it; the handler still runs
        st.tuples(st.just("close"), connection),
        # the handler returns; its Disconnect may be lost on a full inbox
        st.tuples(st.just("release"), connection, st.booleans()),
        st.tuples(st.just("handle"), st.integers(1, 4)),
        # the actor crashes, maybe with a message in hand, and is restarted
        st.tuples(st.just("crash"), st.booleans()),
        st.tuples(st.just("tick")),
    ),
    max_size=60,
)


def live_event(type: str) -> LiveEvent:
    now = datetime.now(UTC)
    return LiveEvent(
        uuid.uuid4(), now, now, type, "info", "api", "m", msgspec.Raw(b"{}"), None, None, None
    )


async def taken(outbox: Outbox) -> list[Entry]:
    """What the outbox's writer would send now (nothing once it is closing)."""
    if outbox.closing is not None or not len(outbox):
        return []
    entries = await outbox.take()
    assert isinstance(entries, list)
    return entries


def held_by(connections: LiveConnections) -> set[tuple[Outbox, str, str, StreamFilter | None]]:
    """What the open, not closing connections hold: where data must go."""
    return {
        (outbox, name, channel, stream_filter)
        for outbox in connections.outboxes()
        if outbox.closing is None
        for name, (channel, stream_filter) in outbox.subscriptions.items()
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
async def test_the_index_always_comes_back_to_what_the_connections_hold(
    steps: list[tuple[Any, ...]],
) -> None:
    connections = LiveConnections(queue_size=1000, max_per_key=100, max_subscriptions=2)
    routes = fanout.Routes.of([])
    inbox: list[SubscriptionsChanged | Disconnect] = []  # survives a crash, as the channel does
    opened: list[Outbox] = []

    def handle(count: int) -> None:
        for _ in range(min(count, len(inbox))):
            fanout.handle_change(routes, inbox.pop(0))

    for step in steps:
        kind = step[0]
        outbox = opened[step[1] % len(opened)] if len(step) > 1 and opened else None
        if kind == "open":
            new = connections.open(Credential(KEY, len(opened)))
            assert isinstance(new, Outbox)
            opened.append(new)
        elif kind == "handle":
            handle(step[1])
        elif kind == "crash":
            if step[1] and inbox:
                inbox.pop(0)  # in hand when the actor crashed: lost
            routes = fanout.Routes.of(connections.outboxes())
            assert routes.routed() == held_by(connections)
        elif kind == "tick":
            routes.reconcile(connections.outboxes())
            # A tick only drops: a subscription still in the inbox is not routed
            # (its data would come before its `subscribed` answer).
            assert routes.routed() <= held_by(connections)
        elif outbox is None:
            continue
        elif kind == "subscribe":
            _, _, name, (channel, stream_filter) = step
            connections.subscribe(outbox, name, channel, stream_filter)
            inbox.append(SubscriptionsChanged(outbox, ()))
        elif kind == "subscribe_undone":
            _, _, name, (channel, stream_filter) = step
            before = outbox.subscriptions
            connections.subscribe(outbox, name, channel, stream_filter)
            connections.hold(outbox, before)
        elif kind == "unsubscribe":
            connections.unsubscribe(outbox, step[2], step[3])
            inbox.append(SubscriptionsChanged(outbox, ()))
        elif kind == "close":
            outbox.close(1013, "slow")
        elif kind == "release":
            connections.release(outbox)
            if step[2]:
                inbox.append(Disconnect(outbox))
        # The registry's own bookkeeping agrees with what the connections hold.
        holding = connections.outboxes()
        for channel in (EVENTS, METRICS, STATS):
            in_use = any(c == channel for o in holding for c, _ in o.subscriptions.values())
            assert connections.listened(channel) == in_use
        assert connections.subscription_count() == sum(len(o.subscriptions) for o in holding)
        assert all(len(o.subscriptions) <= 2 for o in holding)
        # A connection the fan-out has nothing pending for is routed exactly as it holds.
        pending = {message.outbox for message in inbox}
        for each in holding:
            if each.closing is None and each not in pending:
                mine = {entry for entry in routes.routed() if entry[0] is each}
                assert mine == {entry for entry in held_by(connections) if entry[0] is each}

    # Once everything is handled and a tick has passed, data goes exactly where it is held.
    handle(len(inbox))
    routes.reconcile(connections.outboxes())
    for each in opened:
        await taken(each)
    fanout.fan_out(
        routes,
        EVENTS,
        [live_event("x"), live_event("y"), live_event("z")],
        fanout._select_events,
    )
    for each in opened:
        got = {entry.subscription for entry in await taken(each) if isinstance(entry, DataChunk)}
        expected = (
            {name for name, (channel, _) in each.subscriptions.items() if channel == EVENTS}
            if each.closing is None
            else set()
        )
        assert got == expected


async def test_a_stats_tick_during_a_subscribe_sends_no_data_before_the_answer() -> None:
    connections = LiveConnections(queue_size=100, max_per_key=10, max_subscriptions=5)
    outbox = connections.open(Credential(KEY, 1))
    assert isinstance(outbox, Outbox)
    routes = fanout.Routes.of(connections.outboxes())
    # The reader has changed the connection's subscriptions; the fan-out's
    # message is still in its inbox when the stats tick reconciles.
    connections.subscribe(outbox, "stats", STATS, None)
    change = SubscriptionsChanged(outbox, (b'{"type":"subscribed"}',))
    routes.reconcile(connections.outboxes())
    assert routes.routed() == set()
    fanout.handle_change(routes, change)
    assert routes.routed() == {(outbox, "stats", STATS, None)}
    assert await taken(outbox) == [b'{"type":"subscribed"}']


# --- a real service whose fan-out crashes under subscribed websocket clients -------------


async def post_event(base_url: str, token: str, event: dict[str, Any]) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        response = await http.post("/api/v1/events", json=event, headers={"X-API-Key": token})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def received_before_pong(ws: Any) -> dict[str, list[str]]:
    """Ids of the data items queued for `ws` up to now, per subscription."""
    items: dict[str, list[str]] = {}
    for message in await barrier(ws):
        assert message["type"] == "data", message
        items.setdefault(message["subscription"], []).extend(i["id"] for i in message["items"])
    return items


async def test_a_restarted_fanout_streams_exactly_what_each_connection_holds(
    start_service: StartService,
    settings: Settings,
    make_key: MakeKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crashed = trio.Event()
    may_restart = trio.Event()
    run, flush = fanout.run, fanout.flush

    def flush_or_crash(routes: fanout.Routes, pending: fanout.Pending) -> None:
        if not crashed.is_set():
            crashed.set()
            raise RuntimeError("injected fan-out crash")
        flush(routes, pending)

    async def run_when_allowed(*args: Any, **kwargs: Any) -> None:
        if crashed.is_set():  # a restart: hold it while the clients change things
            await may_restart.wait()
        await run(*args, **kwargs)

    monkeypatch.setattr(fanout, "flush", flush_or_crash)
    monkeypatch.setattr(fanout, "run", run_when_allowed)
    # No stats tick during the test: the restart alone must get the routing right.
    service = await start_service(settings.replace(ws_stats_interval=timedelta(minutes=10)))
    connections = service.running.connections
    read = (await make_key("read"))[1]
    write = (await make_key("write"))[1]
    url = service.base_url

    def fanout_state() -> tuple[ActorStatus, int]:
        (state,) = [s for s in service.running.supervisor.snapshot() if s.name == "fanout"]
        return state.status, state.restarts

    async with contextlib.AsyncExitStack() as stack:
        deploys = await stack.enter_async_context(connect(url, read))
        everything = await stack.enter_async_context(connect(url, read))
        leaving = await stack.enter_async_context(connect(url, read))
        async with connect(url, read) as closing:
            await subscribe(deploys, EVENTS, {"type": "deploy"}, name="deploys")
            await subscribe(everything, EVENTS, name="all")
            await subscribe(leaving, EVENTS, name="soon-gone")
            await subscribe(closing, EVENTS, name="all")
            await post_event(url, write, {"type": "deploy", "message": "crashes the fan-out"})
            with trio.fail_after(10):
                while fanout_state()[1] != 1:  # crashed, and its restart is held
                    await trio.sleep(0.01)
            # While the actor is down: one client unsubscribes, one subscribes
            # again with a filter, one goes away.
            await send(leaving, {"type": "unsubscribe", "subscription": "soon-gone"})
            await send(
                everything,
                {
                    "type": "subscribe",
                    "channel": EVENTS,
                    "subscription": "errors",
                    "filter": {"type": "error"},
                },
            )
        with trio.fail_after(10):
            while len(connections) != 3:
                await trio.sleep(0.01)
        may_restart.set()
        # The answers held in the inbox come once the actor runs again.
        assert await receive(leaving) == {"type": "unsubscribed", "subscription": "soon-gone"}
        answer: Message = await receive(everything)
        assert answer == {"type": "subscribed", "channel": EVENTS, "subscription": "errors"}
        assert fanout_state() == (ActorStatus.RUNNING, 1)

        deploy = await post_event(url, write, {"type": "deploy", "message": "after"})
        error = await post_event(url, write, {"type": "error", "message": "after"})
        got = await items_until(
            everything, "all", lambda items: {deploy, error} <= {i["id"] for i in items}
        )
        got_everything = {name: [i["id"] for i in items] for name, items in got.items()}
        for name, ids in (await received_before_pong(everything)).items():
            got_everything.setdefault(name, []).extend(ids)
        assert got_everything == {"all": [deploy, error], "errors": [error]}
        # The same flush reached the others: what they got is queued before a pong.
        got_deploys = await items_until(deploys, "deploys", lambda items: len(items) >= 1)
        assert [i["id"] for i in got_deploys["deploys"]] == [deploy]
        assert await received_before_pong(deploys) == {}
        assert await received_before_pong(leaving) == {}
        assert connections.subscription_count() == 3  # deploys; all and errors
