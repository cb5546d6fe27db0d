"""The group timers on a virtual clock: group_wait, group_interval, repeat_interval,
acknowledged and muted members (domain/notification_groups.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.notification_groups import (
    GroupState,
    Member,
    Message,
    Timing,
    flush,
    observe,
)

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TIMING = Timing(timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4))


def _run(
    timeline: dict[int, list[Member]], seconds: int, timing: Timing = TIMING
) -> list[tuple[int, Message]]:
    """Members as given from each second on (the last given holds), a tick every second;
    a resolved member leaves once told, as the notifier drops it."""
    state = GroupState()
    given: list[Member] = []
    gone: set[int] = set()
    sent: list[tuple[int, Message]] = []
    for second in range(seconds):
        given = timeline.get(second, given)
        members = [m for m in given if m.instance_id not in gone]
        now = T0 + timedelta(seconds=second)
        state = observe(state, members, now)
        message, state = flush(state, members, timing, now)
        if message is not None:
            sent.append((second, message))
            gone.update(m.instance_id for m in members if m.state == "resolved")
    return sent


def test_fifty_instances_firing_together_make_one_message_after_group_wait() -> None:
    # Two a second over 25 s: all within the first one's group_wait.
    timeline = {n: [Member(i, "firing") for i in range(2 * n + 2)] for n in range(25)}
    sent = _run(timeline, 300)
    assert [(second, len(message.firing)) for second, message in sent] == [(30, 50)]


def test_changes_after_a_message_wait_for_the_group_interval() -> None:
    a, b = Member(1, "firing"), Member(2, "firing")
    sent = _run({0: [a], 40: [a, b], 100: [replace(a, state="resolved"), b]}, 400)
    assert [(s, m.firing, m.resolved) for s, m in sent] == [
        (30, (1,), ()),
        (330, (2,), (1,)),  # b's firing and a's resolution, together, 5 min after
    ]


def test_a_group_still_firing_is_repeated_unless_its_members_are_acknowledged() -> None:
    timing = Timing(timedelta(0), timedelta(seconds=10), timedelta(minutes=1))
    owned = Member(1, "firing", acknowledged=True)
    assert [s for s, _ in _run({0: [Member(1, "firing")]}, 200, timing)] == [0, 60, 120, 180]
    assert [s for s, _ in _run({0: [Member(1, "firing")], 30: [owned]}, 200, timing)] == [0]
    resolved = _run(
        {0: [Member(1, "firing")], 30: [owned], 90: [replace(owned, state="resolved")]}, 200, timing
    )
    assert [(s, m.resolved) for s, m in resolved] == [(0, ()), (90, (1,))], "resolution still told"


def test_muted_members_are_never_told_and_make_nothing_due() -> None:
    muted = Member(1, "firing", muted=True)
    assert _run({0: [muted]}, 100) == []
    sent = _run({0: [muted, Member(2, "firing")]}, 100)
    assert [(s, m.firing) for s, m in sent] == [(30, (2,))]
    unmuted = _run({0: [muted], 50: [replace(muted, muted=False)]}, 100)
    assert [(s, m.firing) for s, m in unmuted] == [(80, (1,))], "group_wait from when it shows"


def test_an_instance_resolved_before_it_was_told_is_not_told_at_all() -> None:
    sent = _run({0: [Member(1, "firing")], 10: [Member(1, "resolved")]}, 100)
    assert sent == []


def test_an_emptied_group_starts_afresh_with_group_wait() -> None:
    a = Member(1, "firing")
    sent = _run({0: [a], 40: [replace(a, state="resolved")], 400: [Member(2, "firing")]}, 800)
    assert [(s, m.firing, m.resolved) for s, m in sent] == [
        (30, (1,), ()),
        (330, (), (1,)),
        (430, (2,), ()),
    ]


events = st.lists(
    st.tuples(
        st.integers(0, 900),  # second
        st.integers(1, 4),  # instance
        st.sampled_from(["firing", "resolved", "ack", "mute", "unmute"]),
    ),
    max_size=25,
)


@given(
    events=events,
    wait=st.integers(0, 60),
    interval=st.integers(10, 300),
    repeat=st.integers(60, 600),
)
def test_timers_hold_whatever_happens(
    events: list[tuple[int, int, str]], wait: int, interval: int, repeat: int
) -> None:
    timing = Timing(timedelta(seconds=wait), timedelta(seconds=interval), timedelta(seconds=repeat))
    members: dict[int, Member] = {}  # by slot; a slot firing again is a new instance
    ids = iter(range(1, 10_000))
    state = GroupState()
    sent: list[tuple[int, Message]] = []
    told_resolved: list[int] = []
    by_second: dict[int, list[tuple[int, str]]] = {}
    for second, slot, change in events:
        by_second.setdefault(second, []).append((slot, change))
    for second in range(1500):
        for slot, change in by_second.get(second, []):
            found = members.get(slot)
            if change == "firing" and (found is None or found.state == "resolved"):
                members[slot] = Member(next(ids), "firing")
            elif found is not None and change == "resolved":
                members[slot] = replace(found, state="resolved")
            elif found is not None and change == "ack":
                members[slot] = replace(found, acknowledged=True)
            elif found is not None and change in ("mute", "unmute"):
                members[slot] = replace(found, muted=change == "mute")
        now = T0 + timedelta(seconds=second)
        state = observe(state, list(members.values()), now)
        before = state
        message, state = flush(state, list(members.values()), timing, now)
        if message is None:
            continue
        if before.last_sent is None:  # a group's first message, or one started afresh
            assert before.first_seen is not None
            assert now >= before.first_seen + timing.group_wait
        else:
            spent = now - before.last_sent
            assert spent >= min(timing.group_interval, timing.repeat_interval), "timers"
        assert not message.repeat or not message.resolved
        by_id = {m.instance_id: m for m in members.values()}
        for instance in message.firing:
            assert not by_id[instance].muted and by_id[instance].state == "firing"
        told_resolved.extend(message.resolved)
        sent.append((second, message))
        members = {k: m for k, m in members.items() if m.state == "firing"}
    assert len(told_resolved) == len(set(told_resolved)), "a resolution is told once"
    # Everything left firing, unmuted, is told by the end (the timers are all under 1500 s).
    left = {m.instance_id for m in members.values() if m.state == "firing" and not m.muted}
    told = {i for _, message in sent for i in message.firing}
    assert left <= told
