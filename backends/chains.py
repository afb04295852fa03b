"""Chains: Sigma correlation rules as snaptrail compiles them, the same semantics on every target.

Upstream gaps this closes (pySigma 1.5 backends): Splunk and ES|QL correlate in clock-aligned
buckets (`bin _time`, `date_trunc`) and miss chains that straddle a bucket edge; Splunk and ES|QL
have no `temporal_ordered`; the EQL backend emits invalid syntax for it; the Kusto backend has no
correlations at all. snaptrail's semantics, which every target implements and the tests hold it to:

* temporal_ordered: step k's event comes after step k-1's (equal timestamps allowed, distinct
  events), all steps share the group-by key, and the last event is at most `timespan` after the
  first. Windows slide. One alert per final event; its evidence is the chain with the latest
  start (which is also the one most likely to fit the window: exact for existence).
* event_count / value_count: a sliding window ending at each event; one alert when a key's count
  (or number of distinct values) first reaches the threshold, listing the events in the window.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigma.correlations import (
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.rule import SigmaRule

from snaptrail.backends.errors import TargetLimitation


@dataclass(frozen=True)
class ChainStep:
    rule: SigmaRule
    keys: tuple[str, ...]  # the step's field for each group-by entry (aliases resolved), target names
    query: str  # the base rule's compiled query for this target


@dataclass(frozen=True)
class Chain:
    rule: SigmaCorrelationRule
    kind: str  # "ordered" | "count" | "distinct"
    steps: tuple[ChainStep, ...]
    window_seconds: int
    threshold: int  # events (count) or distinct values (distinct); steps for ordered
    value_field: str | None = None  # distinct: the field whose values are counted (target name)


SUPPORTED = {
    SigmaCorrelationType.TEMPORAL_ORDERED: "ordered",
    SigmaCorrelationType.EVENT_COUNT: "count",
    SigmaCorrelationType.VALUE_COUNT: "distinct",
}


def build_chain(rule: SigmaCorrelationRule, target: str, queries: dict[str, str]) -> Chain:
    """The chain behind a correlation rule; `queries` maps each referenced rule's id to its query."""
    kind = SUPPORTED.get(rule.type)
    if kind is None:
        raise TargetLimitation(
            rule, None, target, f"correlation type {rule.type} is not implemented by snaptrail"
        )
    condition = rule.condition
    if kind != "ordered":
        if condition.op not in (SigmaCorrelationConditionOperator.GTE, SigmaCorrelationConditionOperator.GT):
            raise TargetLimitation(rule, None, target, "only 'gte' and 'gt' count conditions are implemented")
        threshold = condition.count + (1 if condition.op == SigmaCorrelationConditionOperator.GT else 0)
    else:
        threshold = len(rule.rules)
    aliases = {alias.alias: alias.mapping for alias in rule.aliases}
    steps = []
    for reference in rule.rules:
        base = reference.rule
        if not isinstance(base, SigmaRule):
            raise TargetLimitation(rule, None, target, "chains of chains are not implemented")
        keys = []
        for name in rule.group_by or []:
            if name in aliases:
                mapping = {getattr(ref, "reference", ref): field for ref, field in aliases[name].items()}
                keys.append(mapping[reference.reference])
            else:
                keys.append(name)
        query = queries.get(str(base.id))
        if query is None:
            raise TargetLimitation(
                rule, None, target, f"its step '{base.title}' cannot be expressed on this target"
            )
        steps.append(ChainStep(base, tuple(keys), query))
    if not rule.group_by:
        raise TargetLimitation(rule, None, target, "a chain needs group-by keys (principal or resource)")
    value_field = None
    if kind == "distinct":
        fieldref = condition.fieldref
        value_field = fieldref if isinstance(fieldref, str) else None
        if value_field is None:
            raise TargetLimitation(rule, None, target, "value_count needs exactly one field")
    return Chain(rule, kind, tuple(steps), int(rule.timespan.seconds), threshold, value_field)


def base_queries(rule: SigmaCorrelationRule) -> dict[str, str]:
    """The compiled queries of the rules a chain refers to (converted earlier by the same backend)."""
    queries: dict[str, str] = {}
    for reference in rule.rules:
        base = reference.rule
        try:
            results = base.get_conversion_result()  # type: ignore[union-attr]
        except Exception:  # pySigma raises when the rule was not (or could not be) converted
            continue
        if results:
            queries[str(base.id)] = str(results[0])  # type: ignore[union-attr]
    return queries
