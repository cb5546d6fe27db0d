"""The notification sender against the real database and local receivers: signed webhooks,
retries to a maximum age, refusals for good, disabled, deleted and unreadable channels, a
stalled receiver that delays no other channel, two senders sending each delivery once, and
a dead sender's claim that lapses and is taken over."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import trio

from conftest import set_connections_allowed
from monitor.actors import notification_sender
from monitor.actors.notification_sender import Sender, SenderConfig
from monitor.domain.audit import Actor, Attribution
from monitor.domain.dashboards import VersionCondition
from monitor.domain.signing import SecretKeys
from monitor.notifications.retries import RetryPolicy
from monitor.outbound import OutboundLimits
from monitor.secret_box import SecretBox
from monitor.sender_figures import SenderFigures
from monitor.storage import channels as channel_store
from monitor.storage import deliveries as store
from monitor.storage.deliveries import AttemptRecord
from monitor.storage.gateway import Gateway, open_gateway
from monitor.storage.migrate import apply_migrations
from notification_helpers import (
    HMAC_SECRET,
    SUITE_BOX,
    finish_queued,
    finished,
    make_channel,
    queue,
    wait_until,
    webhook_document,
)
from receivers import Received, Reply, start_receiver
from smtp_server import plain_smtp_server

FAST = RetryPolicy(
    max_age=timedelta(minutes=5), initial=timedelta(milliseconds=20), cap=timedelta(seconds=0.1)
)
LIMITS = OutboundLimits(connect_timeout=2, read_timeout=3, total_timeout=3)

StartSender = Callable[..., Awaitable[Sender]]


@pytest.fixture(autouse=True)
def nothing_left_queued(database_url: str) -> Any:
    finish_queued(database_url)
    yield
    finish_queued(database_url)


@pytest.fixture
async def start_sender(database_url: str) -> AsyncIterator[StartSender]:
    """Start senders on their own pools; cancelled (handing back their claims) at the end."""
    async with trio.open_nursery() as nursery:
        gateways: list[Any] = []

        async def start(policy: RetryPolicy = FAST, **config: Any) -> Sender:
            opened = open_gateway(
                database_url,
                pool_size=4,
                statement_timeout=10,
                acquire_timeout=5,
                connect_timeout=5,
            )
            gateway = await opened.__aenter__()
            gateways.append(opened)
            sender = Sender(
                gateway,
                SUITE_BOX,
                SenderConfig(
                    instance_id=f"test-{uuid.uuid4().hex[:6]}",
                    public_url="http://monitor.example",
                    limits=config.pop("limits", LIMITS),
                    policy=policy,
                    poll=config.pop("poll", 0.05),
                    **config,
                ),
                SenderFigures(),
            )
            await nursery.start(notification_sender.run, sender)
            return sender

        yield start
        nursery.cancel_scope.cancel()
    for opened in gateways:
        await opened.__aexit__(None, None, None)


async def settled(*senders: Sender, in_flight: int = 0) -> None:
    """Until the senders' tasks have counted what they recorded (just after the commit)."""
    with trio.fail_after(5):
        while sum(sender.figures.in_flight for sender in senders) != in_flight:
            await trio.sleep(0.01)


def attempts_of(database_url: str, delivery_id: int) -> list[tuple[int, str, int | None, str]]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "select attempt, outcome, status_code, sent_by from notification_attempts "
            "where delivery_id = %s order by attempt",
            (delivery_id,),
        ).fetchall()
    return [(int(a), o, s, b) for a, o, s, b in rows]


async def test_a_webhook_arrives_signed_with_its_idempotency_key(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, start_sender: StartSender
) -> None:
    verified: list[bool] = []

    async def check(received: Received) -> Reply:
        timestamp = received.headers["x-monitor-timestamp"]
        expected = hmac.new(
            HMAC_SECRET.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256
        ).hexdigest()
        verified.append(
            hmac.compare_digest(received.headers["x-monitor-signature"], "sha256=" + expected)
        )
        return Reply(200 if verified[-1] else 401, b"thanks")

    receiver = await start_receiver(nursery, check)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    [delivery] = await queue(gateway, channel, host="db-1")
    sender = await start_sender()
    rows = await wait_until(database_url, [delivery], finished)
    assert rows[delivery] == ("delivered", 1, None)
    assert verified == [True]
    body = receiver.requests[0].json()
    key = receiver.requests[0].headers["idempotency-key"]
    assert body["idempotency_key"] == key and key.startswith("test-")
    assert body["group_labels"] == {"host": "db-1"}
    assert body["alerts"][0]["labels"]["rule"] == "disk full"
    [(number, outcome, status, sent_by)] = attempts_of(database_url, delivery)
    assert (number, outcome, status, sent_by) == (1, "delivered", 200, sender.id)
    await settled(sender)
    assert sender.figures.delivered == 1


async def test_failures_are_retried_with_the_same_key_until_delivered_once(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, start_sender: StartSender
) -> None:
    answers = iter([503, 500, 408, 200])

    async def flaky(_: Received) -> Reply:
        return Reply(next(answers))

    receiver = await start_receiver(nursery, flaky)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    [delivery] = await queue(gateway, channel)
    await start_sender()
    rows = await wait_until(database_url, [delivery], finished)
    assert rows[delivery] == ("delivered", 4, None)
    keys = {request.headers["idempotency-key"] for request in receiver.requests}
    assert len(receiver.requests) == 4 and len(keys) == 1
    outcomes = [(outcome, status) for _, outcome, status, _ in attempts_of(database_url, delivery)]
    assert outcomes == [("retrying", 503), ("retrying", 500), ("retrying", 408), ("delivered", 200)]


async def test_a_refusal_for_good_fails_at_once_with_the_reason(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, start_sender: StartSender
) -> None:
    async def gone(_: Received) -> Reply:
        return Reply(410, b"this hook was removed")

    receiver = await start_receiver(nursery, gone)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    [delivery] = await queue(gateway, channel)
    await start_sender()
    rows = await wait_until(database_url, [delivery], finished)
    status, attempts, error = rows[delivery]
    assert (status, attempts) == ("failed", 1)
    assert error is not None and "refused for good" in error and "410" in error
    assert len(receiver.requests) == 1


async def test_past_the_maximum_age_a_delivery_fails_with_the_reason(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, start_sender: StartSender
) -> None:
    async def broken(_: Received) -> Reply:
        return Reply(502, b"bad gateway")

    receiver = await start_receiver(nursery, broken)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    [delivery] = await queue(gateway, channel)
    policy = RetryPolicy(
        max_age=timedelta(milliseconds=400),
        initial=timedelta(milliseconds=50),
        cap=timedelta(milliseconds=100),
    )
    sender = await start_sender(policy)
    rows = await wait_until(database_url, [delivery], finished)
    status, attempts, error = rows[delivery]
    assert status == "failed" and attempts >= 2
    assert error is not None and "maximum age" in error and "502" in error
    assert len(receiver.requests) == attempts
    await settled(sender)
    assert sender.figures.failed == 1 and sender.figures.retried == attempts - 1


async def test_unreadable_secrets_disabled_and_deleted_channels_fail_with_their_reason(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, start_sender: StartSender
) -> None:
    receiver = await start_receiver(nursery)
    other_key = SecretBox(SecretKeys(b"another-key-entirely-" * 3))
    unreadable = await make_channel(gateway, webhook_document(receiver.url), box=other_key)
    disabled = await make_channel(gateway, webhook_document(receiver.url, enabled=False))
    deleted = await make_channel(gateway, webhook_document(receiver.url))
    ids = [
        *await queue(gateway, unreadable),
        *await queue(gateway, disabled),
        *await queue(gateway, deleted),
    ]
    await channel_store.delete_channel(
        gateway, deleted, condition=VersionCondition(None), by=Attribution(Actor.system("t"))
    )
    await start_sender()
    rows = await wait_until(database_url, ids, finished)
    errors = [rows[delivery_id][2] or "" for delivery_id in ids]
    assert [rows[delivery_id][:2] for delivery_id in ids] == [("failed", 1)] * 3
    assert "secret unreadable" in errors[0]
    assert "disabled" in errors[1]
    assert "deleted" in errors[2]
    assert receiver.requests == [], "nothing was sent"


async def test_a_stalled_receiver_does_not_delay_another_channel(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, start_sender: StartSender
) -> None:
    release = trio.Event()

    async def stalled(_: Received) -> Reply:
        await release.wait()
        return Reply()

    slow = await start_receiver(nursery, stalled)
    fast = await start_receiver(nursery)
    slow_channel = await make_channel(gateway, webhook_document(slow.url))
    fast_channel = await make_channel(gateway, webhook_document(fast.url))
    held = await queue(gateway, slow_channel, 12)
    sender = await start_sender(
        limits=OutboundLimits(connect_timeout=2, read_timeout=30, total_timeout=30),
        channel_concurrency=3,
        concurrency=8,
    )
    with trio.fail_after(10):
        while len(slow.requests) < 3:
            await trio.sleep(0.02)
    [other] = await queue(gateway, fast_channel)
    started = trio.current_time()
    rows = await wait_until(database_url, [other], finished, timeout=5)
    took = trio.current_time() - started
    assert rows[other][0] == "delivered"
    assert took < 2.0, f"the other channel waited {took:.2f} s"
    assert len(slow.requests) == 3, "no more than the channel's limit were sent to it at once"
    await settled(sender, in_flight=3)
    release.set()
    await wait_until(database_url, held, finished, timeout=20)


async def test_two_senders_on_one_database_send_each_delivery_once(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, start_sender: StartSender
) -> None:
    async def slowish(_: Received) -> Reply:
        await trio.sleep(0.01)
        return Reply()

    receiver = await start_receiver(nursery, slowish)
    channels = [await make_channel(gateway, webhook_document(receiver.url)) for _ in range(3)]
    one = await start_sender()
    two = await start_sender()
    ids: list[int] = []
    for channel in channels:
        ids += await queue(gateway, channel, 30)
    await wait_until(database_url, ids, finished, timeout=30)
    keys = Counter(request.headers["idempotency-key"] for request in receiver.requests)
    assert len(keys) == 90 and set(keys.values()) == {1}
    await settled(one, two)
    assert one.figures.delivered + two.figures.delivered == 90
    assert one.figures.lost_claims == two.figures.lost_claims == 0


async def test_a_vanished_senders_claim_lapses_and_another_sends_it(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, start_sender: StartSender
) -> None:
    receiver = await start_receiver(nursery)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    [delivery] = await queue(gateway, channel)
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "update notification_deliveries set claimed_by = 'vanished/1', "
            "claimed_until = now() + interval '700 milliseconds' where id = %s "
            "returning claimed_until",
            (delivery,),
        ).fetchone()
    assert row is not None
    lapsed_at = row[0]
    sender = await start_sender()
    rows = await wait_until(database_url, [delivery], finished, timeout=10)
    assert rows[delivery][0] == "delivered"
    assert [by for *_, by in attempts_of(database_url, delivery)] == [sender.id]
    with psycopg.connect(database_url) as connection:
        started = connection.execute(
            "select started_at from notification_attempts where delivery_id = %s", (delivery,)
        ).fetchone()
    assert started is not None and started[0] >= lapsed_at, "the live claim was respected"


async def test_an_outcome_is_recorded_only_while_the_claim_is_held(
    gateway: Gateway, database_url: str, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    [delivery] = await queue(gateway, channel)

    def claim(sender: str) -> list[store.ClaimedDelivery]:
        with psycopg.connect(database_url) as connection:
            claimed, _ = store.claim_due(
                connection, sender, timedelta(minutes=1), room=lambda _: True, candidates=10
            )
        return [item for item in claimed if item.id == delivery]

    [first] = await trio.to_thread.run_sync(claim, "first")
    assert await trio.to_thread.run_sync(claim, "second") == [], "a live claim is skipped"
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "update notification_deliveries set claimed_until = now() - interval '1 second' "
            "where id = %s",
            (delivery,),
        )
    [second] = await trio.to_thread.run_sync(claim, "second")
    record = AttemptRecord("delivered", first.created_at, 1.0, 200, None, None, "ok", None)

    def record_as(sender: str, claimed: store.ClaimedDelivery) -> bool:
        with psycopg.connect(database_url) as connection:
            return store.record_attempt(connection, sender, claimed, record)

    assert not await trio.to_thread.run_sync(record_as, "first", first), "lapsed and taken"
    assert await trio.to_thread.run_sync(record_as, "second", second)
    assert not await trio.to_thread.run_sync(record_as, "second", second), "already finished"
    assert [by for *_, by in attempts_of(database_url, delivery)] == ["second"]


async def test_an_email_channel_gets_its_notification_once(
    gateway: Gateway, database_url: str, start_sender: StartSender
) -> None:
    with plain_smtp_server() as (port, mailbox):
        channel = await make_channel(
            gateway,
            {
                "name": f"sender mail {uuid.uuid4().hex[:6]}",
                "kind": "email",
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "from": "monitor@example.com",
                "to": ["ops@example.com"],
            },
        )
        [delivery] = await queue(gateway, channel, host="mail-1")
        await start_sender()
        rows = await wait_until(database_url, [delivery], finished)
    assert rows[delivery] == ("delivered", 1, None)
    [(sender_address, recipients, mail)] = mailbox.messages
    assert sender_address == "monitor@example.com" and recipients == ["ops@example.com"]
    assert "disk full" in str(mail["Subject"])
    assert mail["X-Monitor-Idempotency-Key"].startswith("test-")


async def test_more_due_work_than_one_claim_took_is_claimed_without_waiting_a_poll(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, start_sender: StartSender
) -> None:
    receiver = await start_receiver(nursery)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    ids = await queue(gateway, channel, 6)
    # One at a time to the channel and a poll of a minute: six polls would take six.
    await start_sender(poll=60.0, channel_concurrency=1)
    await wait_until(database_url, ids, finished, timeout=10)
    assert len(receiver.requests) == 6


async def test_a_sender_stopped_gracefully_hands_its_claims_back(
    gateway: Gateway, database_url: str, nursery: trio.Nursery
) -> None:
    arrived = trio.Event()

    async def stalled(_: Received) -> Reply:
        arrived.set()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    receiver = await start_receiver(nursery, stalled)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    [delivery] = await queue(gateway, channel)
    sender = Sender(
        gateway,
        SUITE_BOX,
        SenderConfig("stopping", "http://monitor.example", LIMITS, FAST, poll=0.05),
        SenderFigures(),
    )
    async with trio.open_nursery() as own:
        await own.start(notification_sender.run, sender)
        with trio.fail_after(10):
            await arrived.wait()
        own.cancel_scope.cancel()
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "select status, claimed_by, claimed_until, attempts from notification_deliveries "
            "where id = %s",
            (delivery,),
        ).fetchone()
    assert row == ("queued", None, None, 0), "due again at once, for any sender"


async def test_a_database_outage_skips_polls_and_sending_resumes_after_it(
    empty_database_url: str, nursery: trio.Nursery
) -> None:
    url = empty_database_url
    apply_migrations(url)
    receiver = await start_receiver(nursery)
    async with open_gateway(
        url, pool_size=2, statement_timeout=5, acquire_timeout=1, connect_timeout=2
    ) as own_gateway:
        channel = await make_channel(own_gateway, webhook_document(receiver.url))
        [delivery] = await queue(own_gateway, channel)
        set_connections_allowed(url, False)
        try:
            sender = Sender(
                own_gateway,
                SUITE_BOX,
                SenderConfig("outage", "http://monitor.example", LIMITS, FAST, poll=0.05),
                SenderFigures(),
            )
            async with trio.open_nursery() as own:
                await own.start(notification_sender.run, sender)
                with trio.fail_after(20):
                    while sender.figures.skipped_polls < 2:
                        await trio.sleep(0.02)
                assert receiver.requests == []
                set_connections_allowed(url, True)
                rows = await wait_until(url, [delivery], finished, timeout=20)
                own.cancel_scope.cancel()
        finally:
            set_connections_allowed(url, True)
    assert rows[delivery][0] == "delivered" and len(receiver.requests) == 1
