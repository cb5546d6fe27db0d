"""The notifier's planner against the real database, on chosen times (notification_planning.py).

Each test has a database of its own (notifier_helpers.py), in which it leads,
writes instances and transitions as the evaluator and operators do, and
calls `plan_once` at the times it chooses: what is queued is what the
senders would send.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from conftest import create_database, drop_database
from monitor.storage.alert_instances import close_rule_instances
from monitor.storage.leadership import LostLeadership
from monitor.storage.migrate import apply_migrations
from notifier_helpers import Delivery, World, open_world, seconds

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def template() -> Iterator[str]:
    name = f"monitor_plan_template_{uuid.uuid4().hex[:8]}"
    apply_migrations(create_database(name))
    yield name
    drop_database(name)


@pytest.fixture
def world(template: str) -> Iterator[World]:
    yield from open_world(template)


def by_channel(deliveries: list[Delivery]) -> dict[int, list[Delivery]]:
    found: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        found.setdefault(delivery.channel_id, []).append(delivery)
    return found


def test_fifty_instances_firing_together_make_one_message_per_channel(world: World) -> None:
    hook, chat = world.channel(), world.channel("slack")
    world.default_policy([hook, chat])
    ids = [world.fire(f"web-{n}", T0) for n in range(50)]
    first = world.plan(T0 + seconds(1))
    assert (first.transitions, first.queued, first.groups, first.members) == (50, 0, 1, 50)
    assert world.plan(T0 + seconds(30)).queued == 0, "group_wait runs from the first member seen"
    assert world.plan(T0 + seconds(31)).queued == 2
    made = world.deliveries()
    assert sorted(d.channel_id for d in made) == sorted([hook, chat])
    for delivery in made:
        assert delivery.reason == "news"
        assert delivery.ids("firing") == ids
        assert delivery.message["group_labels"] == {"rule": "disk full"}
        assert delivery.message["alerts"][0]["labels"]["host"] == "web-0"
    assert len({d.idempotency_key for d in made}) == 2
    assert world.plan(T0 + seconds(32)).queued == 0, "told once"


def test_news_waits_for_group_interval_and_a_resolution_goes_with_it(world: World) -> None:
    hook = world.channel()
    world.default_policy([hook])
    a = world.fire("a", T0)
    world.plan(T0)
    world.plan(T0 + seconds(30))
    [told] = world.deliveries()
    b = world.fire("b", T0 + seconds(60))
    world.resolve(a, T0 + seconds(90))
    for at in (61, 91, 200, 329):
        assert world.plan(T0 + seconds(at)).queued == 0, at
    assert world.plan(T0 + seconds(330)).queued == 1
    [news] = world.deliveries(told.id)
    assert news.reason == "news"
    assert (news.ids("firing"), news.ids("resolved")) == ([b], [a])
    assert world.groups()[0][2] == 1, "the told resolution left the group"


def test_repeats_stop_while_acknowledged_but_the_resolution_is_sent(world: World) -> None:
    hook = world.channel()
    world.default_policy([hook], repeat_interval="10m")
    a = world.fire("a", T0)
    world.plan(T0)
    world.plan(T0 + seconds(30))
    assert world.plan(T0 + seconds(630)).queued == 1
    [_, repeat] = world.deliveries()
    assert (repeat.reason, repeat.ids("firing")) == ("repeat", [a])
    world.acknowledge(a, T0 + seconds(700))
    assert world.plan(T0 + seconds(1230)).queued == 0, "acknowledged: no repeat"
    world.resolve(a, T0 + seconds(1300))
    assert world.plan(T0 + seconds(1301)).queued == 1, "group_interval has long passed"
    resolved = world.deliveries(repeat.id)[0]
    assert (resolved.reason, resolved.ids("resolved")) == ("resolved", [a])
    assert resolved.message["alerts"][0]["acknowledged"] is True
    assert world.groups() == [], "everything told: the group is gone"


def test_an_acknowledgement_that_lapses_brings_repeats_back(world: World) -> None:
    hook = world.channel()
    world.default_policy([hook], repeat_interval="10m")
    a = world.fire("a", T0)
    world.plan(T0)
    world.plan(T0 + seconds(30))
    world.acknowledge(a, T0 + seconds(60), until=T0 + seconds(900))
    assert world.plan(T0 + seconds(630)).queued == 0
    assert world.plan(T0 + seconds(901)).queued == 0, "nothing was due: the group is not read"
    assert world.plan(T0 + seconds(901), rescan=True).queued == 1, "past `until`: not owned"
    assert world.deliveries()[-1].reason == "repeat"


def test_a_silenced_member_is_told_once_the_silence_ends(world: World) -> None:
    hook = world.channel()
    world.default_policy([hook], group_by=[])
    world.silence({"host": "a"}, T0, T0 + seconds(600))
    a = world.fire("a", T0)
    b = world.fire("b", T0)
    world.plan(T0)
    assert world.plan(T0 + seconds(30)).queued == 1
    [first] = world.deliveries()
    assert first.ids("firing") == [b], "the silenced instance is left out"
    assert world.plan(T0 + seconds(599)).queued == 0
    # The silence ends at 600 without a transition: the next rescan sees `a` as
    # news, told at once since group_interval from the last message has passed.
    assert world.plan(T0 + seconds(600)).queued == 0
    assert world.plan(T0 + seconds(600), rescan=True).queued == 1
    [told] = world.deliveries(first.id)
    assert (told.reason, told.ids("firing")) == ("news", [a, b])


def test_an_inhibited_member_is_left_out_while_its_source_fires(world: World) -> None:
    hook = world.channel()
    world.default_policy([hook], group_by=[])
    world.inhibition({"severity": "critical"}, {"severity": "warning"}, ["host"])
    critical = world.fire("db", T0, severity="critical", check="up")
    warning = world.fire("db", T0, severity="warning", check="disk")
    other = world.fire("web", T0, severity="warning")
    world.plan(T0)
    world.plan(T0 + seconds(30))
    [told] = world.deliveries()
    assert sorted(told.ids("firing")) == sorted([critical, other])
    assert warning not in told.ids("firing")


def test_send_resolved_false_leaves_resolutions_out(world: World) -> None:
    everything, firing_only = world.channel(), world.channel(send_resolved=False)
    world.default_policy([everything, firing_only])
    a = world.fire("a", T0)
    world.plan(T0)
    world.plan(T0 + seconds(30))
    assert len(world.deliveries()) == 2
    last = world.deliveries()[-1].id
    world.resolve(a, T0 + seconds(60))
    world.plan(T0 + seconds(330))
    [resolved] = world.deliveries(last)
    assert (resolved.channel_id, resolved.reason, resolved.ids("resolved")) == (
        everything,
        "resolved",
        [a],
    )
    # With news and a resolution together, that channel gets the firing part only.
    b = world.fire("b", T0 + seconds(400))
    world.plan(T0 + seconds(401))
    c = world.fire("c", T0 + seconds(402))
    world.plan(T0 + seconds(630))  # b and c told
    world.resolve(b, T0 + seconds(640))
    d = world.fire("d", T0 + seconds(650))
    world.plan(T0 + seconds(930))
    latest = by_channel(world.deliveries(resolved.id))
    assert [x.ids("resolved") for x in latest[everything]] == [[], [b]]
    assert [x.ids("resolved") for x in latest[firing_only]] == [[], []]
    assert latest[firing_only][0].ids("firing") == [b, c]
    assert latest[firing_only][-1].ids("firing") == [c, d]


def test_alertmanager_is_sent_the_firing_alerts_every_minute_until_resolved(
    world: World,
) -> None:
    hook, manager = world.channel(), world.channel("alertmanager")
    world.default_policy([hook, manager])
    a = world.fire("a", T0)
    world.plan(T0)
    world.plan(T0 + seconds(30))
    assert len(world.deliveries()) == 2
    last = world.deliveries()[-1].id
    assert world.plan(T0 + seconds(89)).queued == 0
    assert world.plan(T0 + seconds(90)).queued == 1
    [refresh] = world.deliveries(last)
    assert (refresh.channel_id, refresh.reason, refresh.ids("firing")) == (manager, "refresh", [a])
    assert world.plan(T0 + seconds(150)).queued == 1
    world.resolve(a, T0 + seconds(160))
    world.plan(T0 + seconds(161))
    world.plan(T0 + seconds(210))
    world.plan(T0 + seconds(270))
    world.plan(T0 + seconds(330))
    after = world.deliveries(refresh.id)
    assert [(d.channel_id, d.reason) for d in after] == [
        (manager, "refresh"),
        (hook, "resolved"),
        (manager, "resolved"),
    ]
    assert world.plan(T0 + seconds(400)).queued == 0
    assert world.plan(T0 + seconds(1000)).queued == 0, "no refresh once resolved"


def test_continue_sends_to_two_policies_and_a_deleted_policy_s_groups_go(world: World) -> None:
    first, second, fallback = world.channel(), world.channel(), world.channel()
    world.default_policy([fallback])
    one = world.policy([first], position=1, matchers=[{"name": "host", "value": "a"}], go_on=True)
    two = world.policy([second], position=2, group_by=["host"])
    world.fire("a", T0)
    world.plan(T0)
    assert sorted(p for _, p, _ in world.groups()) == sorted([one, two])
    world.plan(T0 + seconds(30))
    made = world.deliveries()
    assert sorted((d.channel_id, d.policy_id) for d in made) == sorted(
        [(first, one), (second, two)]
    )
    world.sql("delete from notification_policies where id = %s", (two,))
    world.plan(T0 + seconds(60))
    assert [p for _, p, _ in world.groups()] == [one]


def test_a_late_commit_with_a_lower_id_is_read_and_nothing_is_read_twice(world: World) -> None:
    world.default_policy([world.channel()], group_by=["host"])
    early = world.connect()
    late = world.connect()
    try:
        # `early` takes its transaction id first; `late` writes the lower transition id.
        early.execute("select pg_current_xact_id()")
        late_id = world_fire_on(world, late, "late")
        early_id = world_fire_on(world, early, "early")
        early.commit()  # the higher transition id commits; the lower one is still open
        read = world.plan(T0)
        assert read.transitions == 1, "the higher id, committed, is read"
        late.commit()
        again = world.plan(T0 + seconds(1))
        assert again.transitions == 1, "the lower id, committed late, is still read"
        assert early_id > late_id
        assert world.plan(T0 + seconds(2)).transitions == 0, "nothing is read twice"
        assert sorted(m for _, _, m in world.groups()) == [1, 1]
    finally:
        early.close()
        late.close()


def world_fire_on(world: World, connection: psycopg.Connection[object], host: str) -> int:
    """`World.fire` inside a transaction the test holds open: the transition's id."""
    labels = {"rule": "disk full", "severity": "warning", "host": host}
    row = connection.execute(
        "insert into alert_instances (rule_id, group_key, sequence, labels, state, since, "
        "opened_at) values (%s, %s, 1, %s, 'firing', %s, %s) returning id",
        (world.rule_id, f'{{"host":"{host}"}}', Jsonb(labels), T0, T0),
    ).fetchone()
    assert row is not None
    made = connection.execute(
        "insert into alert_transitions (instance_id, rule_id, from_state, to_state, at, reason, "
        "labels) values (%s, %s, 'pending', 'firing', %s, 'test', %s) returning id",
        (row[0], world.rule_id, T0, Jsonb(labels)),
    ).fetchone()
    assert made is not None
    return int(made[0])


def test_a_restarted_planner_neither_requeues_nor_forgets_a_waiting_group(world: World) -> None:
    world.default_policy([world.channel()])
    world.fire("a", T0)
    world.plan(T0)  # the group waits for group_wait...
    # ...the process restarts: a new planner, with nothing in memory, on new connections.
    assert world.plan(T0 + seconds(10)).queued == 0
    assert world.plan(T0 + seconds(30)).queued == 1
    for at in (31, 40, 300):
        assert world.plan(T0 + seconds(at)).queued == 0
    assert len(world.deliveries()) == 1


def test_a_stale_epoch_writes_nothing(world: World) -> None:
    world.default_policy([world.channel()])
    world.fire("a", T0)
    with pytest.raises(LostLeadership):
        world.plan(T0, epoch=world.epoch - 1)
    assert world.groups() == []
    assert world.plan(T0).transitions == 1, "the refused tick did not move the cursor"


@pytest.fixture(scope="module")
def shared_world(template: str) -> Iterator[World]:
    """One database for every example: each example has a rule (and so a group) of its own."""
    yield from open_world(template)


EXAMPLES = iter(range(1, 10_000))
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["fire", "resolve", "ack", "wait"]),
        st.sampled_from(["a", "b"]),
        st.integers(1, 200),  # seconds on
        st.booleans(),  # a rescan tick
    ),
    max_size=12,
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_each_firing_is_told_before_its_resolution_and_that_once(
    shared_world: World, steps: list[tuple[str, str, int, bool]]
) -> None:
    world = shared_world
    if not world.deliveries() and not world.groups():
        world.default_policy([world.channel()], group_interval="10s", repeat_interval="1m")
    example = next(EXAMPLES)
    rule = f"rule {example}"
    now = T0 + timedelta(days=30 * example)  # later than every earlier example's times
    open_now: dict[str, int] = {}
    acked: set[int] = set()
    told: list[tuple[datetime, Delivery]] = []
    seen = world.deliveries()[-1].id if world.deliveries() else 0

    def tick(rescan: bool) -> None:
        nonlocal seen
        world.plan(now, rescan=rescan)
        for delivery in world.deliveries(seen):
            seen = delivery.id
            if delivery.message["group_labels"] == {"rule": rule}:
                told.append((now, delivery))
                firing = set(delivery.ids("firing"))
                assert firing <= set(open_now.values()), "only what fires now is told firing"
                if delivery.reason == "repeat":
                    assert firing - acked, "a repeat reminds of something nobody owns"

    for action, host, wait, rescan in steps:
        now += seconds(wait)
        if action == "fire" and host not in open_now:
            open_now[host] = world.fire(host, now, rule=rule)
        elif action == "resolve" and host in open_now:
            world.resolve(open_now.pop(host), now)
        elif action == "ack" and host in open_now:
            world.acknowledge(open_now[host], now)
            acked.add(open_now[host])
        tick(rescan)
    for instance in open_now.values():
        world.resolve(instance, now)
    open_now.clear()
    now += timedelta(days=1)
    tick(False)
    firing_told: dict[int, int] = {}
    resolved_told: dict[int, int] = {}
    for _, delivery in told:
        for instance in delivery.ids("resolved"):
            assert instance in firing_told, "a resolution is told only after its firing was"
            resolved_told[instance] = resolved_told.get(instance, 0) + 1
        for instance in delivery.ids("firing"):
            firing_told[instance] = firing_told.get(instance, 0) + 1
    assert resolved_told == dict.fromkeys(firing_told, 1), "every told firing resolves once"
    assert [
        g
        for g in world.sql(
            "select id from notification_groups where group_labels = %s", (Jsonb({"rule": rule}),)
        )
    ] == [], "all told: the group is gone"


def test_an_instance_closed_with_its_rule_or_leaving_firing_otherwise_is_told_resolved(
    world: World,
) -> None:
    hook = world.channel()
    world.default_policy([hook], group_by=[])
    a = world.fire("a", T0)
    b = world.fire("b", T0)
    world.plan(T0)
    world.plan(T0 + seconds(30))
    # `b` goes to no_data (still open, no longer firing), as the evaluator writes it.
    with world.transaction() as connection:
        connection.execute(
            "update alert_instances set state = 'no_data', since = %s where id = %s",
            (T0 + seconds(40), b),
        )
        connection.execute(
            "insert into alert_transitions (instance_id, rule_id, from_state, to_state, at, "
            "reason, labels) values (%s, %s, 'firing', 'no_data', %s, 'no data', '{}')",
            (b, world.rule_id, T0 + seconds(40)),
        )
    # The rule is disabled: storage closes its open instances with their transitions.
    with world.transaction() as connection:
        closed = close_rule_instances(
            connection, world.rule_id, T0 + seconds(50), "rule disabled", actor="ops"
        )
    assert {change.before.id for change in closed if change.before} == {a, b}
    assert world.plan(T0 + seconds(51)).transitions == 3
    world.plan(T0 + seconds(330))
    [_, told] = world.deliveries()
    assert (told.reason, told.ids("resolved"), told.ids("firing")) == ("resolved", [a, b], [])
    assert world.groups() == []


def test_a_group_of_labels_too_long_for_its_key_is_kept_under_their_hash(world: World) -> None:
    world.default_policy([world.channel()], group_by=["..."], group_wait="0s")
    long = "x" * 9000
    a = world.fire("a", T0, note=long)
    assert world.plan(T0).queued == 1
    [told] = world.deliveries()
    assert told.ids("firing") == [a] and told.message["group_labels"]["note"] == long
    [(key,)] = world.sql("select group_key from notification_groups")
    assert key.startswith("sha256:")
