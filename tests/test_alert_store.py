"""Alert rules and instances in storage: versions, fenced evaluator writes, operators' actions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import create_database, drop_database
from monitor.domain import alert_states as states
from monitor.domain.alert_states import (
    Condition,
    GroupKey,
    Instance,
    Missing,
    Observation,
    Sample,
    State,
)
from monitor.domain.audit import Actor, Attribution
from monitor.domain.dashboards import Conflict, NotFound, StaleVersion, VersionCondition
from monitor.storage import alert_history
from monitor.storage import alert_instances as instances
from monitor.storage import alert_rules as rules
from monitor.storage.alert_instances import SlotChange, SlotChanged, StoredInstance
from monitor.storage.gateway import Gateway, open_gateway
from monitor.storage.leadership import LeaderConnection, LostLeadership
from monitor.storage.migrate import apply_migrations

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BY = Attribution(Actor.key("ops", "mon_abcdefgh"))
ANY = VersionCondition(None)
CONDITION = Condition(">", 90, resolve_threshold=80, for_=timedelta(minutes=1))


@pytest.fixture(scope="module")
def alert_database() -> Iterator[str]:
    """Its own database: the leader epoch here is this module's alone."""
    name = f"monitor_alerts_{uuid.uuid4().hex[:10]}"
    url = create_database(name)
    apply_migrations(url)
    yield url
    drop_database(name)


@pytest.fixture(scope="module")
def epoch(alert_database: str) -> Iterator[int]:
    leader = LeaderConnection.open(alert_database, statement_timeout=5)
    taken = leader.try_lead("tests")
    assert taken is not None
    yield taken
    leader.close()


@pytest.fixture
async def gateway(alert_database: str) -> AsyncIterator[Gateway]:
    async with open_gateway(
        alert_database, pool_size=2, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as opened:
        yield opened


def fields(name: str, *, enabled: bool = True, threshold: float = 90) -> rules.RuleFields:
    return rules.RuleFields(
        name=name,
        kind="metric_threshold",
        enabled=enabled,
        definition={"name": name, "kind": "metric_threshold", "threshold": threshold},
    )


def _audit_actions(url: str, rule_id: int) -> list[str]:
    with psycopg.connect(url) as connection:
        return [
            row[0]
            for row in connection.execute(
                "select action from audit_log where resource = 'alert_rule' "
                "and resource_id = %s order by id",
                (str(rule_id),),
            )
        ]


async def test_a_rule_is_versioned_named_once_and_audited(
    gateway: Gateway, alert_database: str
) -> None:
    name = f"latency {uuid.uuid4().hex[:6]}"
    created = await rules.create_rule(gateway, fields(name), by=BY)
    assert (created.version, created.created_by) == (1, "ops (mon_abcdefgh)")
    with pytest.raises(Conflict, match="exists"):
        await rules.create_rule(gateway, fields(name.upper()), by=BY)
    replaced = await rules.replace_rule(
        gateway,
        created.id,
        fields(name, threshold=95),
        condition=VersionCondition(frozenset({"1"})),
        now=T0,
        by=BY,
    )
    assert replaced.version == 2 and replaced.definition["threshold"] == 95
    with pytest.raises(StaleVersion):
        await rules.replace_rule(
            gateway,
            created.id,
            fields(name, threshold=99),
            condition=VersionCondition(frozenset({"1"})),
            now=T0,
            by=BY,
        )
    same = await rules.replace_rule(
        gateway, created.id, fields(name, threshold=95), condition=ANY, now=T0, by=BY
    )
    assert same.version == 2, "a replace that changes nothing is no new version"
    await rules.delete_rule(gateway, created.id, condition=ANY, now=T0, by=BY)
    assert await rules.get_rule(gateway, created.id) is None
    assert created.id not in [rule.id for rule in await rules.list_rules(gateway)]
    with pytest.raises(NotFound):
        await rules.delete_rule(gateway, created.id, condition=ANY, now=T0, by=BY)
    await rules.create_rule(gateway, fields(name), by=BY)  # the name is free again
    assert _audit_actions(alert_database, created.id) == ["create", "update", "delete"]


def _evaluate(
    rule_id: int,
    slots: dict[GroupKey, StoredInstance],
    now: datetime,
    observations: dict[GroupKey, Observation],
) -> list[SlotChange]:
    current = {group: stored.instance for group, stored in slots.items()}
    result = states.evaluate(CONDITION, current, now, observations)
    changes = []
    for group, after in result.instances.items():
        made = tuple(t.transition for t in result.transitions if t.group == group)
        changes.append(SlotChange(rule_id, group, dict(group), {}, slots.get(group), after, made))
    return changes


async def _slots(gateway: Gateway, rule_id: int) -> dict[GroupKey, StoredInstance]:
    found = await gateway.run(lambda c: instances.current_instances(c, [rule_id]))
    return found.get(rule_id, {})


def _transitions(url: str, rule_id: int) -> list[tuple[str, str, str | None, int | None]]:
    with psycopg.connect(url) as connection:
        return [
            (row[0], row[1], row[2], row[3])
            for row in connection.execute(
                "select from_state, to_state, actor, epoch from alert_transitions "
                "where rule_id = %s order by id",
                (rule_id,),
            )
        ]


HOST_A: GroupKey = (("host", "a"),)


async def test_pending_firing_resolved_are_recorded_with_their_transitions(
    gateway: Gateway, alert_database: str, epoch: int
) -> None:
    rule = await rules.create_rule(gateway, fields(f"r {uuid.uuid4().hex[:6]}"), by=BY)
    for minute, value in ((0, 95.0), (1, 96.0), (2, 85.0), (3, 70.0)):
        slots = await _slots(gateway, rule.id)
        now = T0 + timedelta(minutes=minute)
        changes = _evaluate(rule.id, slots, now, {HOST_A: Sample(value)})
        await instances.record(gateway, changes, epoch=epoch)
    stored = (await _slots(gateway, rule.id))[HOST_A]
    assert stored.instance.state == State.RESOLVED
    assert stored.closed_at == T0 + timedelta(minutes=3)
    assert _transitions(alert_database, rule.id) == [
        ("inactive", "pending", None, epoch),
        ("pending", "firing", None, epoch),
        ("firing", "resolved", None, epoch),
    ], "85 stays firing above the resolve threshold of 80"


async def test_a_replaced_leader_writes_nothing(
    gateway: Gateway, alert_database: str, epoch: int
) -> None:
    rule = await rules.create_rule(gateway, fields(f"r {uuid.uuid4().hex[:6]}"), by=BY)
    changes = _evaluate(rule.id, {}, T0, {HOST_A: Sample(99.0)})
    with pytest.raises(LostLeadership):
        await instances.record(gateway, changes, epoch=epoch - 1)
    assert await _slots(gateway, rule.id) == {}
    assert _transitions(alert_database, rule.id) == []


async def test_resolve_by_hand_closes_and_a_stale_evaluation_is_refused(
    gateway: Gateway, alert_database: str, epoch: int
) -> None:
    rule = await rules.create_rule(gateway, fields(f"r {uuid.uuid4().hex[:6]}"), by=BY)
    quick = Condition(">", 90)
    first = states.evaluate(quick, {}, T0, {HOST_A: Sample(99.0)})
    await instances.record(
        gateway,
        [
            SlotChange(
                rule.id,
                HOST_A,
                {"host": "a"},
                {},
                None,
                first.instances[HOST_A],
                tuple(t.transition for t in first.transitions),
            )
        ],
        epoch=epoch,
    )
    stored = (await _slots(gateway, rule.id))[HOST_A]
    assert stored.instance.state == State.FIRING
    with pytest.raises(states.ActionRefused):
        await instances.acknowledge(
            gateway,
            stored.id,
            comment="x",
            until=T0 - timedelta(minutes=1),
            now=T0,
            by=BY,
            by_label="ops",
        )
    owned = await instances.acknowledge(
        gateway, stored.id, comment="on it", until=None, now=T0, by=BY, by_label="ops"
    )
    assert owned.instance.acknowledged(T0)
    later = T0 + timedelta(minutes=1)
    resolved = await instances.resolve_by_hand(gateway, stored.id, now=later, by=BY, by_label="ops")
    assert resolved.after.state == State.RESOLVED
    with pytest.raises(states.ActionRefused):
        await instances.resolve_by_hand(gateway, stored.id, now=later, by=BY, by_label="ops")
    # The evaluator still holds the firing instance: its write is refused, not merged.
    stale = states.evaluate(quick, {HOST_A: stored.instance}, later, {HOST_A: Missing()})
    with pytest.raises(SlotChanged):
        await instances.record(
            gateway,
            [
                SlotChange(
                    rule.id,
                    HOST_A,
                    {"host": "a"},
                    {},
                    stored,
                    stale.instances[HOST_A],
                    tuple(t.transition for t in stale.transitions),
                )
            ],
            epoch=epoch,
        )
    # Read again, the condition still holds: a new instance opens.
    slots = await _slots(gateway, rule.id)
    again = states.evaluate(quick, {HOST_A: slots[HOST_A].instance}, later, {HOST_A: Sample(99)})
    await instances.record(
        gateway,
        [
            SlotChange(
                rule.id,
                HOST_A,
                {"host": "a"},
                {},
                slots[HOST_A],
                again.instances[HOST_A],
                tuple(t.transition for t in again.transitions),
            )
        ],
        epoch=epoch,
    )
    newest = (await _slots(gateway, rule.id))[HOST_A]
    assert newest.id != stored.id and newest.instance.sequence == 2
    assert newest.instance.acknowledgement is None
    assert _transitions(alert_database, rule.id) == [
        ("inactive", "firing", None, epoch),
        ("firing", "resolved", "ops", None),
        ("resolved", "firing", None, epoch),
    ]


async def test_deleting_or_disabling_a_rule_closes_its_open_instances(
    gateway: Gateway, alert_database: str, epoch: int
) -> None:
    for action in ("disable", "delete"):
        name = f"r {uuid.uuid4().hex[:6]}"
        rule = await rules.create_rule(gateway, fields(name), by=BY)
        groups: list[GroupKey] = [(("host", "a"),), (("host", "b"),)]
        changes = _evaluate(rule.id, {}, T0, {g: Sample(99.0) for g in groups})
        await instances.record(gateway, changes, epoch=epoch)
        if action == "disable":
            await rules.replace_rule(
                gateway, rule.id, fields(name, enabled=False), condition=ANY, now=T0, by=BY
            )
        else:
            await rules.delete_rule(gateway, rule.id, condition=ANY, now=T0, by=BY)
        slots = await _slots(gateway, rule.id)
        assert {stored.instance.state for stored in slots.values()} == {State.INACTIVE}
        reasons = "rule disabled" if action == "disable" else "rule deleted"
        with psycopg.connect(alert_database) as connection:
            closing = connection.execute(
                "select count(*) from alert_transitions where rule_id = %s and reason = %s "
                "and actor = 'ops (mon_abcdefgh)'",
                (rule.id, reasons),
            ).fetchone()
        assert closing == (2,)


observations = st.one_of(st.builds(Sample, st.sampled_from([50.0, 85.0, 95.0])), st.just(Missing()))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ticks=st.lists(
        st.dictionaries(st.sampled_from(["a", "b", "c"]), observations, max_size=3),
        min_size=1,
        max_size=12,
    )
)
def test_what_is_recorded_reads_back_as_the_evaluator_holds_it(
    alert_database: str, epoch: int, ticks: list[dict[str, Observation]]
) -> None:
    """Stored and read again after every tick, each open instance is what was evaluated, and
    the database holds every transition."""
    import trio

    async def main() -> None:
        async with open_gateway(
            alert_database,
            pool_size=1,
            statement_timeout=10,
            acquire_timeout=5,
            connect_timeout=5,
        ) as gateway:
            rule = await rules.create_rule(gateway, fields(f"p {uuid.uuid4().hex[:8]}"), by=BY)
            held: dict[GroupKey, Instance] = {}
            made = 0
            for number, tick in enumerate(ticks):
                now = T0 + timedelta(seconds=30 * number)
                seen = {(("host", host),): observation for host, observation in tick.items()}
                slots = await _slots(gateway, rule.id)
                result = states.evaluate(CONDITION, held, now, seen)
                changes = [
                    SlotChange(
                        rule.id,
                        group,
                        dict(group),
                        {},
                        slots.get(group),
                        after,
                        tuple(t.transition for t in result.transitions if t.group == group),
                    )
                    for group, after in result.instances.items()
                ]
                await instances.record(gateway, changes, epoch=epoch)
                held = dict(result.instances)
                made += len(result.transitions)
                stored = await _slots(gateway, rule.id)
                for group, instance in held.items():
                    if instance.is_open:
                        assert stored[group].instance == instance
                    elif instance.sequence:
                        back = stored[group].instance
                        assert (back.sequence, back.state) == (instance.sequence, instance.state)
                    else:
                        assert group not in stored
            assert len(_transitions(alert_database, rule.id)) == made

    trio.run(main)


async def test_history_retention_keeps_open_instances_and_recent_transitions(
    gateway: Gateway, alert_database: str, epoch: int
) -> None:
    rule = await rules.create_rule(gateway, fields(f"old {uuid.uuid4().hex[:6]}"), by=BY)
    long_ago = T0 - timedelta(days=200)
    # a: fired and resolved long ago; b: fired long ago and still fires.
    for minute, values in (
        (0, {"a": 95.0, "b": 95.0}),
        (2, {"a": 95.0, "b": 95.0}),
        (4, {"a": 10.0, "b": 95.0}),
    ):
        slots = await _slots(gateway, rule.id)
        seen: dict[GroupKey, Observation] = {
            (("host", host),): Sample(value) for host, value in values.items()
        }
        changes = _evaluate(rule.id, slots, long_ago + timedelta(minutes=minute), seen)
        await instances.record(gateway, changes, epoch=epoch)
    assert len(_transitions(alert_database, rule.id)) == 5
    deleted = await alert_history.prune(gateway, T0 - timedelta(days=90))
    assert deleted == 6  # 5 transitions, then a's closed instance
    slots = await _slots(gateway, rule.id)
    assert set(slots) == {(("host", "b"),)}
    assert slots[(("host", "b"),)].instance.state == State.FIRING
    assert _transitions(alert_database, rule.id) == []
