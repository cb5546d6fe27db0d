"""Which notification policies an alert instance goes to, and the group it joins there.

Policies are an ordered list. An instance goes to the first policy whose
matchers all hold on its labels; a policy with `continue` lets it go on to
later ones too. An instance no policy takes goes to the default policy.
This is Alertmanager's routing tree one level deep, which is what its
users mostly write.

Within a policy, instances with equal values of the policy's `group_by`
labels make one group: one message for fifty hosts' worth of one failure.
`group_by: ["..."]` groups by every label (each instance alone); an empty
`group_by` puts all the policy's instances in one group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from monitor.domain.label_matchers import Matcher, matches_all

ALL_LABELS = "..."
DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)

GroupLabels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs


@dataclass(frozen=True)
class Policy:
    id: int
    matchers: tuple[Matcher, ...]
    channel_ids: tuple[int, ...]
    continue_matching: bool = False
    group_by: tuple[str, ...] = ()
    group_wait: timedelta = DEFAULT_GROUP_WAIT
    group_interval: timedelta = DEFAULT_GROUP_INTERVAL
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL

    def group_of(self, labels: Mapping[str, str]) -> GroupLabels:
        """The labels that name the instance's group in this policy."""
        if ALL_LABELS in self.group_by:
            return tuple(sorted(labels.items()))
        return tuple(sorted((name, labels.get(name, "")) for name in set(self.group_by)))


def route(policies: Sequence[Policy], default: Policy, labels: Mapping[str, str]) -> list[Policy]:
    """The policies, in order, that take an instance with `labels`."""
    taken: list[Policy] = []
    for policy in policies:
        if matches_all(policy.matchers, labels):
            taken.append(policy)
            if not policy.continue_matching:
                break
    return taken or [default]


@dataclass(frozen=True)
class GroupKey:
    policy_id: int
    labels: GroupLabels

    def text(self) -> str:
        """A stable text for the group (storage key, idempotency keys)."""
        inner = ",".join(f"{name}={value!r}" for name, value in self.labels)
        return f"{self.policy_id}:{{{inner}}}"


def groups_of(
    policies: Sequence[Policy], default: Policy, labels: Mapping[str, str]
) -> list[GroupKey]:
    """Every group the instance joins: one per policy that takes it."""
    return [
        GroupKey(policy.id, policy.group_of(labels)) for policy in route(policies, default, labels)
    ]


def channels_of(policies: Iterable[Policy]) -> tuple[int, ...]:
    """The channels the policies send to, each once, in order."""
    seen: dict[int, None] = {}
    for policy in policies:
        seen.update(dict.fromkeys(policy.channel_ids))
    return tuple(seen)
