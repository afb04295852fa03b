"""Elastic (AWS integration, data stream logs-aws.cloudtrail-*): Lucene, EQL and ES|QL.

Where the integration puts each CloudTrail field is data (`snaptrail/cloudtrail/elastic_fields.json`):
envelope fields go to ECS, and requestParameters / responseElements / additionalEventData /
serviceEventDetails are kept as a `flattened` object (`aws.cloudtrail.flattened.*`) whose leaves
are keywords with array indices dropped, so `a.items.b` holds every element's `b`.

What each language can read (and what snaptrail does about it):
* Lucene query_string reads flattened sub-fields directly; keyword matching is case-sensitive,
  so Sigma's case-insensitive default is written as a regexp with `[Aa]` character classes.
* EQL rejects the `flattened` type ("Cannot use field ... with unsupported type [flattened]"),
  and substring tests on the `{k=v}` keyword string cannot tell `add` from `remove` exactly, so
  nested paths are a TargetLimitation on EQL.
* ES|QL reads a flattened sub-field only through FIELD_EXTRACT (Elasticsearch 9.5+), which
  returns a keyword, multivalued for array leaves.
All three need the integration's flattened fields; see the README for that setting.
"""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import Any, ClassVar

from sigma.backends.elasticsearch import EqlBackend, LuceneBackend
from sigma.conversion.state import ConversionState
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import SetStateTransformation
from sigma.types import (
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
)

from snaptrail.backends.chains import ChainStep, base_queries, build_chain
from snaptrail.backends.cloudtrail_pipeline import (
    DefaultCloudTrailPipeline,
    NotExpressible,
    cloudtrail_logsource,
    cloudtrail_pipeline,
)
from snaptrail.backends.errors import TargetLimitation
from snaptrail.backends.expression_base import CloudTrailExpressionBackend, Predicate
from snaptrail.backends.values import (
    has_letters,
    has_wildcards,
    lucene_regex_for_wildcards,
    plain_text,
    regex_flags,
    regex_text,
    render,
    unanchored_to_lucene,
    wildcard_shape,
)
from snaptrail.cloudtrail.registry import CloudTrailPath, load_json_data

DEFAULT_INDEX = "logs-aws.cloudtrail-*"
FLATTENED_PREFIX = "aws.cloudtrail.flattened."


@cache
def _mapping() -> tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, str]]:
    """(CloudTrail path -> (ECS field, type), ambiguous path -> field, object root -> flattened field)."""
    data = load_json_data("elastic_fields.json")
    fields = {
        CloudTrailPath.parse(entry["source"]).sigma_name: (entry["field"], entry["type"])
        for entry in data["fields"]
    }
    objects = {entry["source"]: entry["flattened_field"] for entry in data["objects"]}
    return fields, dict(data["ambiguous"]), objects


def ecs_field_types() -> dict[str, str]:
    """ECS field -> mapping type, for schema checkers."""
    fields, _, objects = _mapping()
    types = {name: kind for name, kind in fields.values()}
    types.update({"user.name": "keyword", "source.ip": "ip"})
    types.update({flattened: "flattened" for flattened in objects.values()})
    return types


def elastic_name(path: CloudTrailPath) -> str:
    """The field of the stored ECS document that holds a CloudTrail path."""
    fields, ambiguous, objects = _mapping()
    if path.sigma_name in fields:
        return fields[path.sigma_name][0]
    if path.sigma_name in ambiguous:
        raise ValueError(
            f"the AWS integration writes both userIdentity.userName and sessionIssuer.userName to "
            f"{ambiguous[path.sigma_name]}, so it cannot tell them apart; use userIdentity.arn or "
            "userIdentity.sessionContext.sessionIssuer.arn"
        )
    if path.root in objects and len(path.steps) > 1:
        return objects[path.root] + "." + ".".join(step.name for step in path.steps[1:])
    raise ValueError(f"the AWS integration stores no field for '{path.sigma_name}'")


def eql_name(path: CloudTrailPath) -> str:
    name = elastic_name(path)
    if name.startswith(FLATTENED_PREFIX):
        raise NotExpressible(
            "Elasticsearch EQL cannot read sub-fields of the flattened type, and substring tests on "
            "aws.cloudtrail.request_parameters are not exact; use elastic-lucene or elastic-esql"
        )
    return name


def _index_item() -> ProcessingItem:
    return ProcessingItem(
        identifier="snaptrail_elastic_index",
        transformation=SetStateTransformation("index", DEFAULT_INDEX),
        rule_conditions=[cloudtrail_logsource()],
    )


def lucene_pipeline() -> ProcessingPipeline:
    return cloudtrail_pipeline(
        "snaptrail: CloudTrail for Elastic (AWS integration, ECS + flattened)",
        "elastic-lucene",
        elastic_name,
        ["lucene", "elasticsearch", "snaptrail_elastic_lucene"],
        extra_items=[_index_item()],
    )


def eql_pipeline() -> ProcessingPipeline:
    return cloudtrail_pipeline(
        "snaptrail: CloudTrail for Elastic EQL (AWS integration, ECS fields only)",
        "elastic-eql",
        eql_name,
        ["eql", "snaptrail_elastic_eql"],
        extra_items=[_index_item()],
    )


def esql_pipeline() -> ProcessingPipeline:
    def validate(path: CloudTrailPath) -> str:
        elastic_name(path)  # raises for fields the integration does not store
        return path.sigma_name  # the ES|QL backend renders FIELD_EXTRACT from the CloudTrail path

    return cloudtrail_pipeline(
        "snaptrail: CloudTrail for Elastic ES|QL (AWS integration, FIELD_EXTRACT)",
        "elastic-esql",
        validate,
        ["snaptrail_elastic_esql"],
    )


class _ElasticCommon:
    """Fixes shared by the Lucene and EQL subclasses of the upstream backends."""

    target: ClassVar[str] = "?"
    _rule: Any = None

    def convert_rule(self, rule: Any, output_format: str | None = None, callback: Any = None) -> list[Any]:
        self._rule = rule
        return super().convert_rule(rule, output_format, callback)  # type: ignore[misc]

    def _limit(self, field: str | None, why: str) -> TargetLimitation:
        return TargetLimitation(self._rule, field, self.target, why)

    def _lucene_regex(self, cond: Any) -> str:
        value: SigmaRegularExpression = cond.value
        if "i" in regex_flags(value):
            raise self._limit(cond.field, "Lucene regexps have no case-insensitive flag")
        translated = unanchored_to_lucene(regex_text(value))
        if translated is None:
            raise self._limit(
                cond.field, f"regex '{regex_text(value)}' uses features Lucene's regexp syntax lacks"
            )
        return translated

    def _cidr_field(self, cond: Any) -> str:
        # Only source.ip is an `ip` field (set when sourceIPAddress parses as an IP); keyword
        # fields cannot be range-matched.
        if cond.field != "source.address":
            raise self._limit(
                cond.field, "CIDR matching needs an ip-typed field; only sourceIPAddress has one"
            )
        return "source.ip"

    def convert_condition_field_eq_field(self, cond: Any, state: ConversionState) -> Any:
        raise self._limit(cond.field, "comparing one field with another is not expressible in this language")

    def _refuse_flattened_compare(self, cond: Any) -> None:
        if str(cond.field).startswith(FLATTENED_PREFIX):
            raise self._limit(
                cond.field, "flattened values are keywords, so a numeric comparison would be textual"
            )


NO_SLIDING_WINDOWS = (
    "chains need ordered, sliding windows: {language} has no sequences or window functions, and the "
    "upstream correlation (date_trunc buckets) misses chains that straddle a bucket edge; use elastic-eql"
)


class LuceneCloudTrailBackend(DefaultCloudTrailPipeline, _ElasticCommon, LuceneBackend):
    name: ClassVar[str] = "snaptrail Elastic Lucene (AWS integration)"
    identifier: ClassVar[str] = "snaptrail_elastic_lucene"
    default_pipeline = staticmethod(lucene_pipeline)
    target: ClassVar[str] = "elastic-lucene"

    def _regex_query(self, field: str, value: SigmaString, case_insensitive: bool) -> str:
        return f"{self.escape_and_quote_field(field)}:/{lucene_regex_for_wildcards(value, case_insensitive)}/"

    def convert_correlation_rule(
        self, rule: Any, output_format: Any = None, method: Any = None, callback: Any = None
    ):
        raise TargetLimitation(
            rule, None, self.target, NO_SLIDING_WINDOWS.format(language="Lucene query_string")
        )

    def convert_condition_field_eq_val_str(self, cond: Any, state: ConversionState) -> Any:
        # Sigma matches case-insensitively; keyword fields do not. Values with letters become a
        # regexp with character classes; others stay plain term/wildcard queries.
        text = "".join(part for part in cond.value.s if isinstance(part, str))
        if has_letters(text):
            return self._regex_query(cond.field, cond.value, True)
        return super().convert_condition_field_eq_val_str(cond, state)

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: Any, state: ConversionState) -> Any:
        if has_wildcards(cond.value):
            return self._regex_query(cond.field, cond.value, False)
        return f"{self.escape_and_quote_field(cond.field)}:{self.convert_value_str(cond.value, state)}"

    def decide_convert_condition_as_in_expression(self, cond: Any, state: ConversionState) -> bool:
        if not super().decide_convert_condition_as_in_expression(cond, state):
            return False
        return not any(
            isinstance(arg.value, SigmaString) and has_letters(str(arg.value)) for arg in cond.args
        )

    def escape_and_quote_field(self, field_name: str) -> str:
        # CloudTrail keys such as `aws:ebs:id` contain `:`, query_string's field separator.
        return super().escape_and_quote_field(field_name).replace(":", "\\:")

    def convert_condition_field_eq_val_num(self, cond: Any, state: ConversionState) -> Any:
        # Upstream writes `field:-1`; in query_string a leading `-` is the NOT operator.
        number = str(cond.value.number).replace("-", "\\-")
        return f"{self.escape_and_quote_field(cond.field)}:{number}"

    def convert_condition_field_eq_val_re(self, cond: Any, state: ConversionState) -> Any:
        regex = self._lucene_regex(cond).replace("/", "\\/")  # `/` ends a query_string regexp
        return f"{self.escape_and_quote_field(cond.field)}:/{regex}/"

    def convert_condition_field_eq_val_cidr(self, cond: Any, state: ConversionState) -> Any:
        network = cond.value.network
        escaped = str(network).replace("/", "\\/").replace(":", "\\:")
        return f"{self._cidr_field(cond)}:{escaped}"

    def convert_condition_field_compare_op_val(self, cond: Any, state: ConversionState) -> Any:
        self._refuse_flattened_compare(cond)
        return super().convert_condition_field_compare_op_val(cond, state)


class EqlCloudTrailBackend(DefaultCloudTrailPipeline, _ElasticCommon, EqlBackend):
    name: ClassVar[str] = "snaptrail Elastic EQL (AWS integration)"
    identifier: ClassVar[str] = "snaptrail_elastic_eql"
    default_pipeline = staticmethod(eql_pipeline)
    target: ClassVar[str] = "elastic-eql"
    # Upstream raises for |exists; `field != null` is EQL's test for a present value.
    field_exists_expression: ClassVar[str] = "{field} != null"
    field_not_exists_expression: ClassVar[str] = "{field} == null"

    def convert_condition_field_eq_val(self, cond: Any, state: ConversionState) -> Any:
        # A test on an absent field is null in EQL and `not null` drops the event; Sigma says an
        # absent field does not match, so every value test also requires the field.
        converted = super().convert_condition_field_eq_val(cond, state)
        if isinstance(cond.value, (SigmaNull, SigmaExists)) or not isinstance(converted, str):
            return converted
        return f"({self.escape_and_quote_field(cond.field)} != null and {converted})"

    # Upstream emits invalid EQL for temporal_ordered (`] by  with runs=2`). Here: one sequence,
    # keyed per step, bounded by maxspan; bursts are a single-event sequence `with runs=N`.
    finalize_correlation_subqueries = True

    def convert_correlation_rule(
        self, rule: Any, output_format: Any = None, method: Any = None, callback: Any = None
    ):
        self._rule = rule
        self.last_processing_pipeline.apply(rule)
        chain = build_chain(rule, self.target, base_queries(rule))
        span = f"{chain.window_seconds}s"

        def condition(step: ChainStep) -> str:
            return step.query.removeprefix("any where ")

        if chain.kind == "ordered":
            events = "\n".join(
                f"  [any where {condition(step)}] by {', '.join(step.keys)}" for step in chain.steps
            )
            return [f"sequence with maxspan={span}\n{events}"]
        if chain.kind == "count":
            keys = {step.keys for step in chain.steps}
            if len(keys) != 1:
                raise TargetLimitation(rule, None, self.target, "a burst's steps must share one key field")
            either = " or ".join(f"({condition(step)})" for step in chain.steps)
            return [
                f"sequence by {', '.join(next(iter(keys)))} with maxspan={span}\n"
                f"  [any where {either}] with runs={chain.threshold}"
            ]
        raise TargetLimitation(rule, None, self.target, "EQL cannot count distinct values in a window")

    def convert_condition_field_eq_val_bool(self, cond: Any, state: ConversionState) -> Any:
        # EQL's `:` takes strings only; a boolean field is compared with `==`.
        return f"{self.escape_and_quote_field(cond.field)} == {'true' if cond.value.boolean else 'false'}"

    def convert_condition_field_eq_val_re(self, cond: Any, state: ConversionState) -> Any:
        # Upstream always emits case-insensitive `regex~`; Sigma regexes are case-sensitive.
        operator = "regex~" if "i" in regex_flags(cond.value) else "regex"
        translated = unanchored_to_lucene(regex_text(cond.value))
        if translated is None:
            raise self._limit(
                cond.field, f"regex '{regex_text(cond.value)}' uses features EQL's regex syntax lacks"
            )
        literal = translated.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.escape_and_quote_field(cond.field)} {operator} "{literal}"'

    def convert_condition_field_eq_val_cidr(self, cond: Any, state: ConversionState) -> Any:
        return f'cidrMatch({self._cidr_field(cond)}, "{cond.value.network}")'

    def convert_condition_field_compare_op_val(self, cond: Any, state: ConversionState) -> Any:
        self._refuse_flattened_compare(cond)
        return super().convert_condition_field_compare_op_val(cond, state)


def esql_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _esql_like_pattern(value: SigmaString) -> str:
    """ES|QL LIKE: `*` and `?` wildcards, literal `*`, `?` and `\\` escaped with a backslash."""
    return render(value, "*", "?", lambda text: "".join("\\" + c if c in "*?\\" else c for c in text))


class EsqlCloudTrailBackend(DefaultCloudTrailPipeline, CloudTrailExpressionBackend):
    """ES|QL written from CloudTrail paths: ECS columns, FIELD_EXTRACT for flattened sub-fields."""

    name: ClassVar[str] = "snaptrail Elastic ES|QL (AWS integration, Elasticsearch 9.5+)"
    identifier: ClassVar[str] = "snaptrail_elastic_esql"
    default_pipeline = staticmethod(esql_pipeline)
    target: ClassVar[str] = "elastic-esql"
    formats: ClassVar[dict[str, str]] = {"default": "ES|QL query"}

    merge_array_disjunctions: ClassVar[bool] = False

    def convert_correlation_rule(
        self, rule: Any, output_format: Any = None, method: Any = None, callback: Any = None
    ):
        raise TargetLimitation(rule, None, self.target, NO_SLIDING_WINDOWS.format(language="ES|QL"))

    def _field(self, path: CloudTrailPath) -> tuple[str, str]:
        fields, _, objects = _mapping()
        if path.sigma_name in fields:
            name, kind = fields[path.sigma_name]
            return (f"`{name}`" if name.startswith("@") else name), kind
        if path.root in objects:
            rest = ".".join(step.name for step in path.steps[1:])
            return f"FIELD_EXTRACT({objects[path.root]}, {esql_string(rest)})", "keyword"
        raise self.limitation(path, "no ES|QL field")

    def scalar_expression(self, path: CloudTrailPath) -> str:
        return self._field(path)[0]

    def any_element(self, path: CloudTrailPath, predicate: Predicate, state: ConversionState) -> str:
        raise self.limitation(
            path, "internal: array predicates are converted in convert_condition_field_eq_val"
        )

    def null_safe(self, predicate: str) -> str:
        return f"coalesce({predicate}, false)"

    def _field_predicate(self, cond: Any, state: ConversionState) -> Any:
        path = self.resolve(cond.field)
        if not path.has_array:
            return super()._field_predicate(cond, state)
        expr = self._field(path)[0]
        value = cond.value
        # ES|QL comparisons on a multivalued column yield null; MV_CONTAINS tests membership.
        if isinstance(value, SigmaExists):
            return f"{expr} is not null" if value.exists else f"{expr} is null"
        if isinstance(value, SigmaNull):
            return f"({expr} is null)"
        if isinstance(value, SigmaNumber):
            # Flattened leaves are keywords holding the JSON text of the number ("22").
            return f"mv_contains({expr}, {esql_string(str(value.number))})"
        if isinstance(value, SigmaString) and not has_wildcards(value):
            text = plain_text(value)
            if isinstance(value, SigmaCasedString) or not has_letters(text):
                return f"mv_contains({expr}, {esql_string(text)})"
            return f"mv_contains(to_lower({expr}), {esql_string(text.lower())})"
        shape = wildcard_shape(value) if isinstance(value, SigmaString) else None
        if shape is not None and shape[0] in ("startswith", "endswith", "contains"):
            return self._mv_pattern(expr, shape[0], shape[1], isinstance(value, SigmaCasedString))
        raise self.limitation(
            path,
            "on a multivalued (array) value ES|QL can test membership, a prefix, a suffix or a substring, "
            "not other patterns or ranges",
        )

    @staticmethod
    def _mv_pattern(expr: str, shape: str, text: str, cased: bool) -> str:
        """A pattern on any element of a multivalued keyword: the values joined with a tab, which
        CloudTrail's identifiers, ARNs and account ids do not contain, so `<tab>text` can only
        match at an element's start and a substring without a tab cannot span two elements.
        (ES|QL strings have no \\u escapes; \\t is one of the few they do have.)"""
        delimiter = "\\t"
        literal = "".join("\\\\" + c if c in "*?\\" else c for c in (text if cased else text.lower()))
        pattern = {
            "startswith": f"*{delimiter}{literal}*",
            "endswith": f"*{literal}{delimiter}*",
            "contains": f"*{literal}*",
        }[shape]
        joined = f'concat("{delimiter}", mv_concat({expr}, "{delimiter}"), "{delimiter}")'
        if not cased:
            joined = f"to_lower({joined})"
        return f'{joined} like "{pattern}"'

    def string_literal(self, text: str) -> str:
        return esql_string(text)

    def op_equals(self, expr: str, text: str, cased: bool, path: CloudTrailPath) -> str:
        if cased or not has_letters(text):
            return f"{expr} == {esql_string(text)}"
        return f"to_lower({expr}) == {esql_string(text.lower())}"

    def op_wildcard(self, expr: str, value: SigmaString, cased: bool, path: CloudTrailPath) -> str:
        pattern = _esql_like_pattern(value)
        if cased:
            return f"{expr} like {esql_string(pattern)}"
        return f"to_lower({expr}) like {esql_string(pattern.lower())}"

    def op_regex(self, expr: str, value: SigmaRegularExpression, path: CloudTrailPath) -> str:
        if "i" in regex_flags(value):
            raise self.limitation(path, "ES|QL RLIKE has no case-insensitive flag")
        translated = unanchored_to_lucene(regex_text(value))
        if translated is None:
            why = f"regex '{regex_text(value)}' uses features ES|QL's RLIKE syntax lacks"
            raise self.limitation(path, why)
        return f"{expr} rlike {esql_string(translated)}"

    def op_cidr(self, expr: str, value: SigmaCIDRExpression, path: CloudTrailPath) -> str:
        if path.sigma_name != "sourceIPAddress":
            raise self.limitation(path, "CIDR matching needs an ip-typed field; only sourceIPAddress has one")
        ipaddress.ip_network(value.network)
        return f"cidr_match(source.ip, {esql_string(str(value.network))})"

    def op_compare(self, expr: str, symbol: str, number: float | int, path: CloudTrailPath) -> str:
        return f"to_double({expr}) {symbol} {number}"

    def op_number_equals(self, expr: str, number: float | int, path: CloudTrailPath) -> str:
        return f"to_double({expr}) == {number}"

    def op_bool(self, expr: str, value: bool, path: CloudTrailPath) -> str:
        if self._field(path)[1] == "boolean":
            return f"{expr} == {'true' if value else 'false'}"
        return f"to_lower({expr}) == {esql_string('true' if value else 'false')}"

    def op_field_equals_field(self, left: str, right: str) -> str:
        return f"to_lower({left}) == to_lower({right})"

    def op_is_null(self, expr: str, path: CloudTrailPath) -> str:
        return f"({expr} is null)"

    def op_exists(self, expr: str, path: CloudTrailPath) -> str:
        return f"({expr} is not null)"

    def _in_expression(self, cond: Any, state: ConversionState) -> Any:
        path = self.resolve(cond.args[0].field)
        texts = [plain_text(arg.value) for arg in cond.args]
        expr = self.scalar_expression(path)
        if any(has_letters(text) for text in texts):
            return f"to_lower({expr}) in ({', '.join(esql_string(t.lower()) for t in texts)})"
        return f"{expr} in ({', '.join(esql_string(t) for t in texts)})"

    def finalize_query_default(self, rule: Any, query: Any, index: int, state: ConversionState) -> Any:
        index_pattern = state.processing_state.get("index", DEFAULT_INDEX)
        return f"from {index_pattern} metadata _id, _index, _version\n| where {query}"


__all__ = [
    "DEFAULT_INDEX",
    "EqlCloudTrailBackend",
    "EsqlCloudTrailBackend",
    "LuceneCloudTrailBackend",
    "ecs_field_types",
    "elastic_name",
    "eql_pipeline",
    "esql_pipeline",
    "lucene_pipeline",
]
