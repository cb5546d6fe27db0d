"""The alert evaluator's figures on this instance, kept by the actor and shown by /stats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class EvaluatorFigures:
    """What /stats shows of the evaluator on this instance."""

    cycles: int = 0
    evaluations: int = 0  # rule evaluations
    transitions: int = 0
    late_ticks: int = 0  # due evaluations skipped because the rule was found too late
    lag_s: float = 0.0  # how late the last cycle's most overdue rule was
    max_lag_s: float = 0.0  # the most any cycle's rule was late, since start
    last_cycle_ms: float | None = None
    max_cycle_ms: float = 0.0
    write_conflicts: int = 0  # cycles dropped because an operator changed an instance
    skipped_cycles: int = 0  # database unavailable
    rules: int = 0  # enabled rules evaluated while leading
    last_evaluated_at: float | None = None  # Unix time of the last completed cycle

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
