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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from sigma.collection import SigmaCollection
from sigma.correlations import (
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from snaptrail.backends.errors import CurrentRule, TargetLimitation


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


def unsupported_type(rule: SigmaCorrelationRule, target: str) -> TargetLimitation:
    why = f"correlation type {rule.type} is not implemented by snaptrail"
    return TargetLimitation(rule, None, target, why)


def build_chain(rule: SigmaCorrelationRule, target: str, queries: dict[str, str]) -> Chain:
    """The chain behind a correlation rule; `queries` maps each referenced rule's id to its query."""
    kind = SUPPORTED.get(rule.type)
    if kind is None:
        raise unsupported_type(rule, target)
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


ConversionCallback = Callable[[SigmaRule | SigmaCorrelationRule, str | None, int, Any, Any], Any]


class SlidingWindowChains(CurrentRule):
    """Backend mixin: chains through pySigma's correlation machinery.

    pySigma's `convert_correlation_rule` dispatches on the correlation type to the methods below and
    then runs `finish_query`, the output format's `finalize_query_*` and the pipeline's query
    postprocessing, as for any rule. A target implements `chain_query`; a target without sliding
    windows sets `chains_unsupported` and every chain is a TargetLimitation of its own.
    """

    correlation_methods: ClassVar[dict[str, str] | None] = {
        "default": "sliding windows: temporal_ordered (ordered steps, shared keys), event_count and "
        "value_count (gte/gt); one alert per chain, listing its events",
    }
    default_correlation_method: ClassVar[str] = "default"
    # A chain embeds its steps' complete queries, so referenced rules are finalized too.
    finalize_correlation_subqueries: ClassVar[bool] = True
    chains_unsupported: ClassVar[str | None] = None  # why this target has no chains at all

    def chain_query(self, chain: Chain) -> str:
        raise NotImplementedError

    def _start(self, rule: SigmaCorrelationRule) -> None:
        self._rule = rule
        if self.chains_unsupported is not None:
            raise TargetLimitation(rule, None, self.target, self.chains_unsupported)

    def step_queries(self, rule: SigmaCorrelationRule) -> dict[str, str]:
        """The compiled queries of the chain's steps (see snaptrail.backends.plugin for other formats)."""
        return base_queries(rule)

    def _chain_queries(self, rule: SigmaCorrelationRule) -> list[str]:
        self._start(rule)
        return [self.chain_query(build_chain(rule, self.target, self.step_queries(rule)))]

    def convert_correlation_temporal_ordered_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._chain_queries(rule)

    def convert_correlation_event_count_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._chain_queries(rule)

    def convert_correlation_value_count_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._chain_queries(rule)

    def _refuse(self, rule: SigmaCorrelationRule) -> list[str]:
        self._start(rule)
        raise unsupported_type(rule, self.target)

    # The other correlation types (and extended conditions) have no snaptrail semantics: refused,
    # instead of the upstream template queries (clock-aligned buckets).
    def convert_correlation_temporal_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._refuse(rule)

    def convert_correlation_extended_temporal_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._refuse(rule)

    def convert_correlation_extended_temporal_ordered_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        # A boolean condition over the steps (`not`, `or`) is not an ordered chain of all of them.
        self._start(rule)
        why = "extended (boolean) correlation conditions are not implemented by snaptrail"
        raise TargetLimitation(rule, None, self.target, why)

    def convert_correlation_value_sum_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._refuse(rule)

    def convert_correlation_value_avg_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._refuse(rule)

    def convert_correlation_value_percentile_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._refuse(rule)

    def convert_correlation_value_median_rule(
        self, rule: SigmaCorrelationRule, output_format: str | None = None, method: str = "default"
    ) -> list[str]:
        return self._refuse(rule)

    def convert(
        self,
        rule_collection: SigmaCollection,
        output_format: str | None = None,
        correlation_method: str | None = None,
        callback: ConversionCallback | None = None,
    ) -> Any:
        """pySigma's `Backend.convert`, with two differences that matter for a folder (sigma-cli):

        * every rule is converted before any chain: a chain reads its steps' compiled queries, and
          pySigma 1.5.1 sorts by `referenced_by`, a partial order that `sorted` does not respect;
        * with `collect_errors` (`sigma convert -s`), a chain's error is collected like a rule's
          (pySigma collects errors in `convert_rule` only), so one chain the target cannot express
          is reported for that chain instead of failing the whole conversion.
        """
        backend: Any = self  # the pySigma Backend this mixin is part of
        backend.init_processing_pipeline(output_format)
        rule_collection.resolve_rule_references()
        output_format = output_format or backend.default_format
        rules = [rule for rule in rule_collection.rules if isinstance(rule, SigmaRule)]
        chains = [rule for rule in rule_collection.rules if isinstance(rule, SigmaCorrelationRule)]
        queries = [query for rule in rules for query in backend.convert_rule(rule, output_format, callback)]
        for chain in chains:
            try:
                queries.extend(
                    backend.convert_correlation_rule(chain, output_format, correlation_method, callback)
                )
            except SigmaError as error:
                if not backend.collect_errors:
                    raise
                backend.errors.append((chain, error))
        return backend.finalize(queries, output_format)
