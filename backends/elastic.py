"""Elastic (AWS integration, data stream logs-aws.cloudtrail-*): Lucene, EQL and ES|QL.

Where the integration puts each CloudTrail field is data (`snaptrail/cloudtrail/elastic_fields.json`):
envelope fields go to ECS, and requestParameters / responseElements / additionalEventData /
serviceEventDetails are kept as a `flattened` object (`aws.cloudtrail.flattened.*`) whose leaves
are keywords with array indices dropped, so `a.items.b` holds every element's `b`.

What each language can read (and what snaptrail does about it):
* Lucene query_string reads flattened sub-fields directly; keyword matching is case-sensitive,
  so Sigma's case-insensitive default is written as a regexp with `[Aa]` character classes.
* EQL rejects the `flattened` type ("Cannot use field ... with unsupported type [flattened]"),
  and substring tests on the `{k=v}` keyword string cannot tell `add` from `remove` exactly. EQL
  reads nested paths from the keyword fields snaptrail's ingest pipeline adds instead
  (`snaptrail.*`, see `extracted_field` and snaptrail.build.ingest_pipeline): one keyword per
  registry path under the four objects; an array path is one keyword holding every value with a
  tab before and after it, so EQL tests it as one string (membership, prefix, suffix, substring).
  Numeric comparisons read the least / greatest number of a path the pipeline also writes
  (`snaptrail.min.*` / `snaptrail.max.*`, see `bound_field`), and a `|fieldref` reads the boolean the
  pipeline derives for that pair of fields (`DERIVED_EQUALITIES`); other pairs are refused.
* ES|QL reads a flattened sub-field only through FIELD_EXTRACT (Elasticsearch 9.5+), which
  returns a keyword, multivalued for array leaves.
All three need the integration's flattened fields; see the README for that setting.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any, ClassVar

from sigma.backends.elasticsearch import EqlBackend, LuceneBackend
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import SetStateTransformation
from sigma.rule import SigmaRule, SigmaRuleTag
from sigma.types import (
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from snaptrail.backends.chains import Chain, ChainStep, SlidingWindowChains
from snaptrail.backends.cloudtrail_pipeline import cloudtrail_logsource, cloudtrail_pipeline
from snaptrail.backends.errors import TargetLimitation
from snaptrail.backends.expression_base import CloudTrailExpressionBackend, lowercase, plain_text
from snaptrail.backends.plugin import SnaptrailBackend, index_patterns
from snaptrail.backends.values import (
    MAX_DETERMINIZED_STATES,
    MAX_REGEX_LENGTH,
    NotTranslatable,
    has_letters,
    lucene_regex_for_wildcards,
    lucene_regex_literal,
    python_regex_to_lucene,
    wildcard_determinized_states,
)
from snaptrail.cloudtrail.registry import CloudTrailPath, Registry, load_json_data, registry

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


# The keyword fields snaptrail's ingest pipeline (logs-aws.cloudtrail@custom) adds beside the
# flattened objects: EQL cannot read flattened sub-fields, but it reads keywords.
EXTRACTED_PREFIX = "snaptrail."
# Between and around the values of an array path in its one keyword. CloudTrail's identifiers, ARNs,
# account ids and enum values hold no tab, so `<tab>v<tab>` is exactly "an element equals v".
ELEMENT_SEPARATOR = "\t"


def extracted_field(path: CloudTrailPath) -> str:
    """The keyword field snaptrail's ingest pipeline writes for a path under one of the four objects
    (`requestParameters.a.items[].b` -> `snaptrail.request_parameters.a.items.b`)."""
    _, _, objects = _mapping()
    if path.root not in objects or len(path.steps) < 2:
        raise ValueError(f"'{path.sigma_name}' is not a path inside a CloudTrail object")
    rest = ".".join(step.name for step in path.steps[1:])
    return EXTRACTED_PREFIX + objects[path.root].removeprefix(FLATTENED_PREFIX) + "." + rest


def extracted_paths() -> list[CloudTrailPath]:
    """Every registry path (overlays included) the ingest pipeline copies to a keyword, by field name.

    The pipeline is generated from the registry, like the targets' field mappings: a rule that needs
    a new path declares it there and the next build's pipeline writes it. A field that is also the
    parent of another cannot be both a keyword and an object in one mapping, so that is an error."""
    return list(_extracted_in(registry()))


@cache
def _extracted_in(known: Registry) -> tuple[CloudTrailPath, ...]:
    # Per registry object: use_overlays() makes a new one, and with it a new list.
    _, _, objects = _mapping()
    paths = {
        path.sigma_name: path
        for spec in known.events.values()
        for path in spec.fields.values()
        if path.root in objects and len(path.steps) > 1
    }
    ordered = sorted(paths.values(), key=extracted_field)
    names = {extracted_field(path) for path in ordered}
    for name in sorted(names):
        parts = name.split(".")
        for end in range(1, len(parts)):
            parent = ".".join(parts[:end])
            if parent in names:
                raise ValueError(
                    f"registry: '{parent}' would be both a keyword and the object holding '{name}' "
                    "in the ingest pipeline's fields; a path cannot be both a value and an object"
                )
    return tuple(ordered)


# Numeric comparisons on the paths below the four objects: the keywords compare as text, so the
# pipeline also writes, for every path that reaches JSON numbers, the least and the greatest of them
# (`snaptrail.min.<object>.<path>`, `snaptrail.max.<object>.<path>`, mapped as double by the component
# template's dynamic templates). Sigma tests each element of an array path on its own, and "some element
# <= n" is exactly "the least <= n" (and "some element >= n" is "the greatest >= n"), so a comparison
# reads one number however many elements the path has.
BOUND_PREFIXES = {"min": EXTRACTED_PREFIX + "min.", "max": EXTRACTED_PREFIX + "max."}


def bound_field(extracted: str, bound: str) -> str:
    """The numeric field holding the least (`min`) or greatest (`max`) number of an extracted path."""
    return BOUND_PREFIXES[bound] + extracted.removeprefix(EXTRACTED_PREFIX)


# Field-to-field equality the pipeline derives, as a boolean written when both fields hold a value: true
# when they are equal ignoring case (Sigma's default), false otherwise. A `|fieldref` between exactly
# these two CloudTrail paths (either way round) reads the boolean; any other pair is refused.
DERIVED_EQUALITIES: tuple[tuple[str, str, str], ...] = (
    ("userIdentity.accountId", "recipientAccountId", "snaptrail.same.caller_and_recipient_account"),
    ("requestParameters.sourceRegion", "awsRegion", "snaptrail.same.source_and_event_region"),
)


def derived_equalities() -> list[tuple[str, str, str]]:
    """(EQL field, EQL field, boolean field) of each derived equality, as the pipeline reads them."""
    return [
        (eql_name(CloudTrailPath.parse(left)), eql_name(CloudTrailPath.parse(right)), field)
        for left, right, field in DERIVED_EQUALITIES
    ]


def joined_fields() -> frozenset[str]:
    """The extracted fields of array paths: one keyword of tab-delimited values each."""
    return _joined_in(registry())


@cache
def _joined_in(known: Registry) -> frozenset[str]:
    return frozenset(extracted_field(path) for path in _extracted_in(known) if path.has_array)


def eql_name(path: CloudTrailPath) -> str:
    name = elastic_name(path)
    if name.startswith(FLATTENED_PREFIX):
        return extracted_field(path)
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


def _ignorecase(value: SigmaRegularExpression) -> bool:
    return SigmaRegularExpressionFlag.IGNORECASE in value.flags


class _LuceneDialect:
    """What the three Elastic languages share: Lucene's regexp dialect (query_string regexps, EQL
    `regex`, ES|QL RLIKE) and Lucene automata behind every wildcard test."""

    limitation: Any  # CurrentRule's, through each backend

    def _lucene_regex(self, cond: ConditionFieldEqualsValueExpression, language: str = "Lucene") -> str:
        """The Sigma regex of the condition as a full-match Lucene regexp (query_string, EQL and ES|QL
        RLIKE share the dialect); a limitation naming the construct that has no exact equivalent."""
        value: SigmaRegularExpression = cond.value
        flags = value.flags
        try:
            return python_regex_to_lucene(
                str(value.regexp),
                dotall=SigmaRegularExpressionFlag.DOTALL in flags,
                multiline=SigmaRegularExpressionFlag.MULTILINE in flags,
            )
        except NotTranslatable as error:
            raise self.limitation(
                cond.field, f"regex '{value.regexp}' has no exact {language} regexp equivalent: {error}"
            ) from None

    def _check_wildcards(self, cond: ConditionFieldEqualsValueExpression, case_insensitive: bool) -> None:
        """Refuse a wildcard value whose automaton Lucene would refuse to determinize at run time."""
        value = cond.value
        if not isinstance(value, SigmaString) or not value.contains_special():
            return
        states = wildcard_determinized_states(value, case_insensitive, MAX_DETERMINIZED_STATES)
        if states > MAX_DETERMINIZED_STATES:
            raise self.limitation(
                cond.field,
                f"the {len(value)} character wildcard value needs an automaton of more than "
                f"{MAX_DETERMINIZED_STATES} states, which Elasticsearch refuses to run",
            )


class _ElasticCommon(_LuceneDialect, SlidingWindowChains):
    """Fixes shared by the Lucene and EQL subclasses of the upstream backends."""

    def _cidr_field(self, cond: ConditionFieldEqualsValueExpression) -> str:
        # Only source.ip is an `ip` field (set when sourceIPAddress parses as an IP); keyword
        # fields cannot be range-matched.
        if cond.field != "source.address":
            raise self.limitation(
                cond.field, "CIDR matching needs an ip-typed field; only sourceIPAddress has one"
            )
        return "source.ip"

    def convert_condition_field_eq_field(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        raise self.limitation(
            cond.field, "comparing one field with another is not expressible in this language"
        )

    def finalize_output_threat_model(self, tags: list[SigmaRuleTag]) -> Iterable[dict[str, Any]]:
        """The `threat` of the siem_rule formats, from snaptrail's pinned ATT&CK data as snaptrail's
        Kibana package writes it. Upstream downloads ATT&CK from GitHub while converting (so the
        formats fail offline) and removes the attack tags from the rule it converts."""
        from snaptrail.attack import parse_attack_tags  # lazy: the build and its templates are large
        from snaptrail.build.kibana import threat

        # threat() reads only the tactics and techniques of its argument, which AttackTags has too.
        return threat(parse_attack_tags(f"{tag.namespace}.{tag.name}" for tag in tags))  # type: ignore[arg-type]

    def _refuse_flattened_compare(self, cond: ConditionFieldEqualsValueExpression) -> None:
        if str(cond.field).startswith((FLATTENED_PREFIX, EXTRACTED_PREFIX)):
            raise self.limitation(
                cond.field, "flattened values are keywords, so a numeric comparison would be textual"
            )


NO_SLIDING_WINDOWS = (
    "chains need ordered, sliding windows: {language} has no sequences or window functions, and the "
    "upstream correlation (date_trunc buckets) misses chains that straddle a bucket edge; use elastic-eql "
    "(the Kibana package carries a value_count chain as a threshold rule instead)"
)


# Options of the upstream Elasticsearch backends that keep their meaning (Kibana rule formats).
# Upstream's `index_names` is not one: the index patterns are snaptrail.yml's `elastic.index`.
ELASTIC_UPSTREAM_OPTIONS: dict[str, str] = {
    "schedule_interval": "siem_rule formats: how often Kibana runs the rule, with the unit below (default 5)",
    "schedule_interval_unit": "siem_rule formats: s, m, h or d (default m)",
}


def _with_index(document: dict[str, Any], state: ConversionState) -> dict[str, Any]:
    """A Kibana detection rule of an upstream format, on the CloudTrail index patterns of the pipeline
    (snaptrail.yml `elastic.index`, default logs-aws.cloudtrail-*) instead of upstream's list of
    beats/logs patterns."""
    target = document["params"] if "params" in document else document  # siem_rule / siem_rule_ndjson
    target["index"] = index_patterns(state, DEFAULT_INDEX)
    return document


# Words the classic query parser reads as operators when they stand alone.
_LUCENE_OPERATOR_WORDS = frozenset({"AND", "OR", "NOT", "TO"})


class LuceneCloudTrailBackend(SnaptrailBackend, _ElasticCommon, LuceneBackend):
    """Lucene query_string over the AWS integration's documents.

    sigma-cli: `sigma convert -t snaptrail_elastic_lucene [-f FORMAT] [-O key=value ...] rules/`

    Formats, each around the default-format query and on the index patterns of snaptrail.yml
    (`elastic.index`, default logs-aws.cloudtrail-*): `default`, `kibana_ndjson` (a Kibana saved
    search), `dsl_lucene` (query DSL with the query_string), `siem_rule` (Kibana's create-rule API)
    and `siem_rule_ndjson` (Kibana's rule import), both of type query, language lucene.

    Options: `filters=true|false`, `config=PATH` (see snaptrail.backends.plugin), and upstream's
    `schedule_interval` / `schedule_interval_unit` for the siem_rule formats.
    """

    name: ClassVar[str] = "snaptrail Elastic Lucene (AWS integration)"
    identifier: ClassVar[str] = "snaptrail_elastic_lucene"
    default_pipeline = staticmethod(lucene_pipeline)
    target: ClassVar[str] = "elastic-lucene"
    chains_unsupported: ClassVar[str | None] = NO_SLIDING_WINDOWS.format(language="Lucene query_string")
    correlation_methods: ClassVar[dict[str, str] | None] = {
        "default": "none: every chain is refused (Lucene has no sequences or window functions)"
    }
    formats: ClassVar[dict[str, str]] = {
        "default": "Lucene query_string queries",
        "kibana_ndjson": "Kibana saved searches (NDJSON) on the CloudTrail index patterns",
        "dsl_lucene": "Elasticsearch query DSL with the query_string",
        "siem_rule": "Kibana detection rules for the create-rule API (JSON)",
        "siem_rule_ndjson": "Kibana detection rules for the rule import (NDJSON)",
    }
    upstream_options: ClassVar[dict[str, str]] = ELASTIC_UPSTREAM_OPTIONS

    def wrap_kibana_ndjson(self, rule: SigmaRule, search: str, state: ConversionState) -> dict[str, Any]:
        document = LuceneBackend.finalize_query_kibana_ndjson(self, rule, search, 0, state)
        # Upstream writes the index pattern "beats-*" into the saved search and its reference.
        index = ",".join(index_patterns(state, DEFAULT_INDEX))
        meta = document["attributes"]["kibanaSavedObjectMeta"]
        source = json.loads(meta["searchSourceJSON"])
        source["index"] = index
        meta["searchSourceJSON"] = json.dumps(source)
        for reference in document["references"]:
            reference["id"] = index
        return document

    def wrap_dsl_lucene(self, rule: SigmaRule, search: str, state: ConversionState) -> dict[str, Any]:
        return LuceneBackend.finalize_query_dsl_lucene(self, rule, search, 0, state)

    def wrap_siem_rule(self, rule: SigmaRule, search: str, state: ConversionState) -> dict[str, Any]:
        return _with_index(LuceneBackend.finalize_query_siem_rule(self, rule, search, 0, state), state)

    def wrap_siem_rule_ndjson(self, rule: SigmaRule, search: str, state: ConversionState) -> dict[str, Any]:
        return _with_index(LuceneBackend.finalize_query_siem_rule_ndjson(self, rule, search, 0, state), state)

    # `|exists: false`: a clause that only excludes matches nothing on its own in the classic query
    # parser (inside OR), and `not` over upstream's `NOT _exists_:x` gives `NOT NOT _exists_:x`, which the
    # parser rejects; the excluded set is taken from every document instead.
    field_not_exists_expression: ClassVar[str] = "(*:* NOT _exists_:{field})"

    # Upstream's escapes, plus the whitespace that ends a term in the query parser (Lucene's
    # _WHITESPACE: space, tab, newline, carriage return, ideographic space); `\c` is `c` in a term.
    add_escaped: ClassVar[str] = LuceneBackend.add_escaped + "\t\n\r\u3000"

    def _regexp(self, cond: ConditionFieldEqualsValueExpression, regex: str) -> str:
        if len(regex) > MAX_REGEX_LENGTH:
            raise self.limitation(
                cond.field,
                f"the value needs a {len(regex)} character regexp and Elasticsearch refuses regexps "
                f"longer than {MAX_REGEX_LENGTH} (index.max_regex_length)",
            )
        if regex.endswith("\\"):
            # An escaped backslash last: the query parser would read its `\` and the closing `/` as
            # an escaped slash and run past the end. The same backslash as a class ends in `]`.
            regex = regex[:-2] + "[\\\\]"
        return f"{self.escape_and_quote_field(cond.field)}:/{regex}/"

    def _regex_query(self, cond: ConditionFieldEqualsValueExpression, case_insensitive: bool) -> str:
        self._check_wildcards(cond, case_insensitive)
        return self._regexp(cond, lucene_regex_for_wildcards(cond.value, case_insensitive))

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        # Sigma matches case-insensitively; keyword fields do not. Values with letters become a
        # regexp with character classes; others stay plain term/wildcard queries.
        text = "".join(part for part in cond.value.s if isinstance(part, str))
        if has_letters(text):
            return self._regex_query(cond, True)
        self._check_wildcards(cond, False)
        return super().convert_condition_field_eq_val_str(cond, state)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if cond.value.contains_special():
            return self._regex_query(cond, False)
        return f"{self.escape_and_quote_field(cond.field)}:{self.convert_value_str(cond.value, state)}"

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if not super().decide_convert_condition_as_in_expression(cond, state):
            return False
        for arg in cond.args:
            self._check_wildcards(arg, False)
        return not any(
            isinstance(arg.value, SigmaString) and has_letters(str(arg.value)) for arg in cond.args
        )

    def escape_and_quote_field(self, field_name: str) -> str:
        # CloudTrail keys such as `aws:ebs:id` contain `:`, query_string's field separator.
        return super().escape_and_quote_field(field_name).replace(":", "\\:")

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        # A term that is exactly an operator word is the operator to the query parser; `\AND` is the
        # term "AND" (a longer term such as `AND*` or `ANDx` lexes as a term already).
        text = super().convert_value_str(s, state)
        return "\\" + text if text in _LUCENE_OPERATOR_WORDS else text

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        # Upstream writes `field:-1`; in query_string a leading `-` is the NOT operator.
        number = str(cond.value.number).replace("-", "\\-")
        return f"{self.escape_and_quote_field(cond.field)}:{number}"

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if _ignorecase(cond.value):
            raise self.limitation(cond.field, "Lucene regexps have no case-insensitive flag")
        return self._regexp(cond, self._lucene_regex(cond))  # `/` comes escaped: it ends the regexp

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        network = cond.value.network
        escaped = str(network).replace("/", "\\/").replace(":", "\\:")
        return f"{self._cidr_field(cond)}:{escaped}"

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        self._refuse_flattened_compare(cond)
        return super().convert_condition_field_compare_op_val(cond, state)


class EqlCloudTrailBackend(SnaptrailBackend, _ElasticCommon, EqlBackend):
    """EQL over the AWS integration's documents (ECS fields only; chains as sequences).

    sigma-cli: `sigma convert -t snaptrail_elastic_eql [-f FORMAT] [-O key=value ...] rules/`

    Formats, each around the default-format query (`any where ...`, or a chain's `sequence`) and on
    the index patterns of snaptrail.yml (`elastic.index`, default logs-aws.cloudtrail-*): `default`,
    `eqlapi` (the body of `/<index>/_eql/search`), `siem_rule` (Kibana's create-rule API) and
    `siem_rule_ndjson` (Kibana's rule import), both of type eql, language eql.

    Options: `filters=true|false`, `config=PATH` (see snaptrail.backends.plugin), and upstream's
    `schedule_interval` / `schedule_interval_unit` for the siem_rule formats.
    """

    name: ClassVar[str] = "snaptrail Elastic EQL (AWS integration)"
    identifier: ClassVar[str] = "snaptrail_elastic_eql"
    default_pipeline = staticmethod(eql_pipeline)
    target: ClassVar[str] = "elastic-eql"
    correlation_methods: ClassVar[dict[str, str] | None] = {
        "default": "sliding windows: temporal_ordered as one sequence with maxspan, keyed per step; "
        "event_count as a sequence `with runs`; value_count is refused (no distinct counts in EQL; "
        "the Kibana package writes it as a threshold rule)",
    }
    formats: ClassVar[dict[str, str]] = {
        "default": "EQL queries (any where ..., or a chain's sequence)",
        "eqlapi": "bodies for the /<index>/_eql/search API",
        "siem_rule": "Kibana detection rules for the create-rule API (JSON)",
        "siem_rule_ndjson": "Kibana detection rules for the rule import (NDJSON)",
    }
    upstream_options: ClassVar[dict[str, str]] = ELASTIC_UPSTREAM_OPTIONS

    # Upstream raises for |exists; `field != null` is EQL's test for a present value.
    field_exists_expression: ClassVar[str] = "{field} != null"
    field_not_exists_expression: ClassVar[str] = "{field} == null"

    def convert_condition_field_eq_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        # A test on an absent field is null in EQL and `not null` drops the event; Sigma says an
        # absent field does not match, so every value test also requires the field.
        cond = self._numeric_bound(cond)
        converted = super().convert_condition_field_eq_val(cond, state)
        if isinstance(cond.value, (SigmaNull, SigmaExists)) or not isinstance(converted, str):
            return converted
        if isinstance(cond.value, SigmaFieldReference):
            return converted  # the derived boolean, which carries its own null test
        return f"({self.escape_and_quote_field(cond.field)} != null and {converted})"

    def _numeric_bound(
        self, cond: ConditionFieldEqualsValueExpression
    ) -> ConditionFieldEqualsValueExpression:
        """A comparison on an extracted path as one on its least (<, <=) or greatest (>, >=) number."""
        field = str(cond.field)
        value = cond.value
        if not isinstance(value, SigmaCompareExpression) or not field.startswith(EXTRACTED_PREFIX):
            return cond
        if field.startswith(tuple(BOUND_PREFIXES.values())):
            return cond
        operators = SigmaCompareExpression.CompareOperators
        low = value.op in (operators.LT, operators.LTE)
        bounded = ConditionFieldEqualsValueExpression(bound_field(field, "min" if low else "max"), value)
        bounded.parent = cond.parent
        return bounded

    def convert_condition_field_eq_field(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        reference = cond.value
        assert isinstance(reference, SigmaFieldReference)
        if not (reference.starts_with or reference.ends_with):
            pair = {str(cond.field), reference.field}
            for left, right, derived in derived_equalities():
                if pair == {left, right}:
                    field = self.escape_and_quote_field(derived)
                    return f"({field} != null and {field} == true)"
        raise self.limitation(
            cond.field,
            "comparing one field with another is not expressible in EQL; the ingest pipeline derives only "
            + ", ".join(f"{left} = {right}" for left, right, _ in DERIVED_EQUALITIES),
        )

    # Upstream emits invalid EQL for temporal_ordered (`] by  with runs=2`). Here: one sequence,
    # keyed per step, bounded by maxspan; bursts are a single-event sequence `with runs=N`.
    def chain_query(self, chain: Chain) -> str:
        span = f"{chain.window_seconds}s"

        def condition(step: ChainStep) -> str:
            return step.query.removeprefix("any where ")

        if chain.kind == "ordered":
            events = "\n".join(
                f"  [any where {condition(step)}] by {', '.join(step.keys)}" for step in chain.steps
            )
            return f"sequence with maxspan={span}\n{events}"
        if chain.kind == "count":
            keys = {step.keys for step in chain.steps}
            if len(keys) != 1:
                raise TargetLimitation(
                    chain.rule, None, self.target, "a burst's steps must share one key field"
                )
            either = " or ".join(f"({condition(step)})" for step in chain.steps)
            return (
                f"sequence by {', '.join(next(iter(keys)))} with maxspan={span}\n"
                f"  [any where {either}] with runs={chain.threshold}"
            )
        raise TargetLimitation(
            chain.rule,
            None,
            self.target,
            "EQL cannot count distinct values in a window: a sequence relates its events only through "
            "equal join keys, so it cannot require their values to differ; a count of events "
            "(event_count, a sequence `with runs`) is expressible, and distinct counts over sliding "
            "windows run on duckdb, splunk, sentinel and spark; the Kibana package carries the chain as a "
            "threshold rule with threshold.cardinality over its step's Lucene query (one window per run)",
        )

    # ---- strings ---------------------------------------------------------------------------------
    # EQL wildcard patterns (`:`, `like`, `like~`) have no escape: Elasticsearch reads every `*` and
    # `?` as a wildcard and uses U+0001 as its internal LIKE escape. A value whose text holds one of
    # them is matched by an equivalent full-match `regex` instead.
    _NOT_IN_PATTERNS: ClassVar[frozenset[str]] = frozenset("*?\x01")

    def quote_string(self, text: str) -> str:
        return eql_string(text)

    def escape_and_quote_field(self, field_name: str) -> str:
        # A registry step such as `aws:ebs:id` is no EQL identifier: that step alone is escaped with
        # backticks (EQL, Elasticsearch's and the eql package's, resolves `a.b.`c:d`` step by step).
        if str(field_name).startswith(EXTRACTED_PREFIX):
            return ".".join(
                step if _EQL_IDENTIFIER.fullmatch(step) else f"`{step}`" for step in field_name.split(".")
            )
        return super().escape_and_quote_field(field_name)

    @classmethod
    def _pattern_safe(cls, value: SigmaString) -> bool:
        return not any(isinstance(part, str) and cls._NOT_IN_PATTERNS & set(part) for part in value.s)

    @staticmethod
    def _pattern(value: SigmaString) -> str:
        return value.convert(escape_char=None, wildcard_multi="*", wildcard_single="?")

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        # In-lists (`like~ (...)`) only take pattern-safe values (decide_convert_condition_as_in_expression).
        return eql_string(self._pattern(s))

    def _eql_string_condition(self, cond: ConditionFieldEqualsValueExpression, cased: bool) -> str:
        value: SigmaString = cond.value
        field = self.escape_and_quote_field(cond.field)
        if cond.field in joined_fields():
            element = self._element_condition(cond, cased)
            if element is not None:
                return element
            value = element_pattern(value)  # type: ignore[assignment]  # not None: checked above
        if not self._pattern_safe(value):
            return f"{field} regex {eql_string(lucene_regex_for_wildcards(value, not cased))}"
        self._check_wildcards(cond, not cased)
        if cased:
            operator = " like " if value.contains_special() else " == "
        else:
            operator = ":"  # case-insensitive, with wildcards
        return f"{field}{operator}{eql_string(self._pattern(value))}"

    def _element_condition(self, cond: ConditionFieldEqualsValueExpression, cased: bool) -> str | None:
        """A value tested against one element of an array path's tab-delimited keyword: None when it is
        a pattern over the whole keyword (value, prefix, suffix, substring: the caller renders it), else
        a full-match `regex` whose wildcards cannot cross a tab; a limitation for a value with a tab."""
        value: SigmaString = cond.value
        if _holds_tab(value):
            raise self.limitation(
                cond.field,
                "an array path's ingest-pipeline keyword delimits its values with tabs, so a value "
                "holding a tab cannot be matched exactly",
            )
        if element_pattern(value) is not None:
            return None
        tab = ELEMENT_SEPARATOR
        body = value.map_str_parts(lambda text: lucene_regex_literal(text, not cased)).convert(
            escape_char=None, wildcard_multi=f"[^{tab}]*", wildcard_single=f"[^{tab}]"
        )
        regex = f".*{tab}{body}{tab}.*"
        if len(regex) > MAX_REGEX_LENGTH:
            raise self.limitation(
                cond.field,
                f"the value needs a {len(regex)} character regexp and Elasticsearch refuses regexps "
                f"longer than {MAX_REGEX_LENGTH} (index.max_regex_length)",
            )
        return f"{self.escape_and_quote_field(cond.field)} regex {eql_string(regex)}"

    def _as_keyword_text(self, cond: ConditionFieldEqualsValueExpression, text: str) -> str:
        # The ingest pipeline writes numbers and booleans as Java prints them ("22", "true").
        keyword = ConditionFieldEqualsValueExpression(cond.field, SigmaString(text))
        keyword.parent = cond.parent
        return self._eql_string_condition(keyword, cased=True)

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        return self._eql_string_condition(cond, cased=False)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if str(cond.field).startswith(EXTRACTED_PREFIX):
            return self._as_keyword_text(cond, str(cond.value))
        return super().convert_condition_field_eq_val_num(cond, state)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        return self._eql_string_condition(cond, cased=True)

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if not super().decide_convert_condition_as_in_expression(cond, state):
            return False
        for arg in cond.args:
            value = arg.value
            if str(arg.field).startswith(EXTRACTED_PREFIX) and (
                arg.field in joined_fields() or not isinstance(value, SigmaString)
            ):
                return False  # each value is a pattern over the tab-delimited keyword, or a keyword text
            if isinstance(value, SigmaCasedString) or not self._pattern_safe(value):
                return False
            self._check_wildcards(arg, True)
        return True

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        # As for single values (convert_condition_field_eq_val): `not` over a null test drops the
        # event, so the list also requires the field.
        converted = super().convert_condition_as_in_expression(cond, state)
        field = self.escape_and_quote_field(cond.args[0].field)
        return f"({field} != null and {converted})"

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        # EQL's `:` takes strings only; a boolean field is compared with `==`.
        text = "true" if cond.value.boolean else "false"
        if str(cond.field).startswith(EXTRACTED_PREFIX):
            return self._as_keyword_text(cond, text)
        return f"{self.escape_and_quote_field(cond.field)} == {text}"

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if cond.field in joined_fields():
            # One element of the tab-delimited keyword: the full-match regex between two tabs, with
            # every negated class also excluding the tab, so the regex cannot reach a neighbour.
            element = _without_tab(self._lucene_regex(cond, "EQL"))
            tab = ELEMENT_SEPARATOR
            operator = "regex~" if _ignorecase(cond.value) else "regex"
            pattern = eql_string(f".*{tab}({element}){tab}.*")
            return f"{self.escape_and_quote_field(cond.field)} {operator} {pattern}"
        # Upstream always emits case-insensitive `regex~`; Sigma regexes are case-sensitive.
        operator = "regex~" if _ignorecase(cond.value) else "regex"
        translated = self._lucene_regex(cond, "EQL")
        return f"{self.escape_and_quote_field(cond.field)} {operator} {eql_string(translated)}"

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        return f'cidrMatch({self._cidr_field(cond)}, "{cond.value.network}")'

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        cond = self._numeric_bound(cond)
        if not str(cond.field).startswith(tuple(BOUND_PREFIXES.values())):
            self._refuse_flattened_compare(cond)
        return super().convert_condition_field_compare_op_val(cond, state)

    # Upstream's formats prefix `any where ` themselves, which breaks a chain's `sequence`: they are
    # given the default-format query and keep it as it is.
    def wrap_eqlapi(self, rule: SigmaRule, search: str, state: ConversionState) -> dict[str, Any]:
        return {"query": search}

    def wrap_siem_rule(self, rule: SigmaRule, search: str, state: ConversionState) -> dict[str, Any]:
        document = EqlBackend.finalize_query_siem_rule(self, rule, search, 0, state)
        document["params"]["query"] = search
        return _with_index(document, state)

    def wrap_siem_rule_ndjson(self, rule: SigmaRule, search: str, state: ConversionState) -> dict[str, Any]:
        document = EqlBackend.finalize_query_siem_rule_ndjson(self, rule, search, 0, state)
        document["query"] = search
        return _with_index(document, state)


def element_pattern(value: SigmaString) -> SigmaString | None:
    """The wildcard pattern over tab-delimited values (`<tab>v1<tab>v2<tab>`, as the ingest pipeline's
    array keywords hold them and as ES|QL joins a multivalued column) that holds when one element
    equals the value, or has it as prefix, suffix or substring (pySigma's startswith / endswith /
    contains); None for other wildcard uses, which the tabs cannot confine to one element."""
    multi, tab = SpecialChars.WILDCARD_MULTI, ELEMENT_SEPARATOR
    if not value.contains_special():
        return multi + (tab + value + tab) + multi
    if value.endswith(multi) and not value[:-1].contains_special():
        return multi + (tab + value[:-1]) + multi
    if value.startswith(multi) and not value[1:].contains_special():
        return multi + (value[1:] + tab) + multi
    if value.startswith(multi) and value.endswith(multi) and not value[1:-1].contains_special():
        return multi + value[1:-1] + multi
    return None


def _without_tab(regex: str) -> str:
    """A Lucene regexp that matches what `regex` matches, except strings holding a tab: a negated class
    `[^...]` also excludes the tab, and `.` (any character) becomes "any character but a tab"."""
    out, i, in_class = [], 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            out.append(regex[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if regex.startswith("[^", i):
                out.append("[^" + ELEMENT_SEPARATOR)
                i += 2
                continue
        elif char == ".":
            out.append(f"[^{ELEMENT_SEPARATOR}]")  # any character of the element
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _holds_tab(value: SigmaString) -> bool:
    return any(isinstance(part, str) and ELEMENT_SEPARATOR in part for part in value.s)


# The escapes of each string grammar (EqlBase.g4 / the eql package's DQ_STRING; EsqlBaseLexer's
# QUOTED_STRING). EQL strings cannot hold a raw CR or LF and ES|QL strings neither; every other
# character may stand as it is. A tab is written `\t` as well: the ES|QL multivalue patterns delimit
# elements with it, which reads better as an escape.
_EQL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_ESQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def eql_string(text: str) -> str:
    return '"' + "".join(_EQL_ESCAPES.get(char, char) for char in text) + '"'


def esql_string(text: str) -> str:
    return '"' + "".join(_ESQL_ESCAPES.get(char, char) for char in text) + '"'


class EsqlCloudTrailBackend(
    SnaptrailBackend, _LuceneDialect, SlidingWindowChains, CloudTrailExpressionBackend
):
    """ES|QL written from CloudTrail paths: ECS columns, FIELD_EXTRACT for flattened sub-fields.

    sigma-cli: `sigma convert -t snaptrail_elastic_esql [-O key=value ...] rules/`; format `default`
    (each query starts `from <elastic.index of snaptrail.yml>`); options `filters=true|false` and
    `config=PATH` (see snaptrail.backends.plugin).
    """

    name: ClassVar[str] = "snaptrail Elastic ES|QL (AWS integration, Elasticsearch 9.5+)"
    identifier: ClassVar[str] = "snaptrail_elastic_esql"
    default_pipeline = staticmethod(esql_pipeline)
    target: ClassVar[str] = "elastic-esql"
    formats: ClassVar[dict[str, str]] = {"default": "ES|QL query"}
    chains_unsupported: ClassVar[str | None] = NO_SLIDING_WINDOWS.format(language="ES|QL")
    correlation_methods: ClassVar[dict[str, str] | None] = {
        "default": "none: every chain is refused (ES|QL has no sequences or sliding windows)"
    }
    # Array paths are multivalued columns, tested with mv_* functions (convert_array_condition),
    # not with a general element predicate.
    merge_array_disjunctions: ClassVar[bool] = False

    # ---- token table ----------------------------------------------------------------------------
    # Patterns are LIKE patterns: `*` and `?` wildcards; literal `*`, `?` and `\` escaped with `\`.
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "*"
    wildcard_single: ClassVar[str] = "?"
    add_escaped: ClassVar[str] = "\\"
    # Case-insensitive matching lowers both sides; a value without letters is compared as it is,
    # which keeps the column's index usable (convert_condition_field_eq_val_str).
    eq_token: ClassVar[str] = " == "
    eq_expression: ClassVar[str] = "to_lower({field}) == {value}"
    wildcard_match_expression: ClassVar[str] = "to_lower({field}) like {value}"
    case_sensitive_eq_expression: ClassVar[str] = "{field} == {value}"
    case_sensitive_match_expression: ClassVar[str] = "{field} like {value}"
    field_in_list_expression: ClassVar[str] = "to_lower({field}) {op} ({list})"
    case_sensitive_in_list_expression: ClassVar[str] = "{field} {op} ({list})"
    or_in_operator: ClassVar[str] = "in"
    # RLIKE is Lucene's regexp dialect, which has no flags (convert_value_re translates).
    re_expression: ClassVar[str] = "{field} rlike {regex}"
    # IGNORECASE is refused (convert_condition_field_eq_val_re); m and s have no Lucene equivalent
    # and nothing to write.
    re_flags: dict[SigmaRegularExpressionFlag, str] = {  # noqa: RUF012 (pySigma declares it so)
        SigmaRegularExpressionFlag.MULTILINE: "",
        SigmaRegularExpressionFlag.DOTALL: "",
    }
    # Only source.ip is ip-typed (set when sourceIPAddress parses as an IP).
    cidr_expression: ClassVar[str] = 'cidr_match(source.ip, "{value}")'
    compare_op_expression: ClassVar[str] = "to_double({field}) {operator} {value}"
    field_eq_num_expression: ClassVar[str] = "to_double({field}) == {value}"
    bool_values: ClassVar[dict[bool, str | None]] = {True: '"true"', False: '"false"'}
    bool_expression: ClassVar[str] = "to_lower({field}) == {value}"
    field_null_expression: ClassVar[str] = "({field} is null)"
    field_exists_expression: ClassVar[str] = "({field} is not null)"
    field_not_exists_expression: ClassVar[str] = "not (({field} is not null))"
    field_equals_field_expression: ClassVar[str] = "to_lower({field1}) == to_lower({field2})"
    # A test on a null value is null and `not null` drops the row (see the base class).
    null_safe_expression: ClassVar[str] = "coalesce({expr}, false)"
    query_expression: ClassVar[str] = "from {state[index]} metadata _id, _index, _version\n| where {query}"
    state_defaults: ClassVar[dict[str, str]] = {"index": DEFAULT_INDEX}

    # Boolean columns compare with the literal; the others hold text.
    _BOOLEAN_TOKENS: ClassVar[dict[str, Any]] = {
        "bool_expression": "{field} == {value}",
        "bool_values": {True: "true", False: "false"},
    }
    # Multivalued (array) columns: ES|QL comparisons on them yield null; these test any value.
    mv_contains_expression: ClassVar[str] = "mv_contains({field}, {value})"
    mv_exists_expression: ClassVar[str] = "{field} is not null"
    mv_not_exists_expression: ClassVar[str] = "{field} is null"
    # The values joined with a tab, which CloudTrail's identifiers, ARNs and account ids do not
    # contain: `<tab>text` can only match at an element's start, and a substring without a tab
    # cannot span two elements. (ES|QL strings have no \u escapes; \t is one of the few they have.)
    mv_joined_expression: ClassVar[str] = 'concat("\\t", mv_concat({field}, "\\t"), "\\t")'
    mv_like_expression: ClassVar[str] = "{joined} like {value}"

    def quote_string(self, s: str) -> str:
        return esql_string(s)

    # ---- paths ----------------------------------------------------------------------------------
    def _field(self, path: CloudTrailPath) -> tuple[str, str]:
        fields, _, objects = _mapping()
        if path.sigma_name in fields:
            name, kind = fields[path.sigma_name]
            return (f"`{name}`" if name.startswith("@") else name), kind
        if path.root in objects:
            rest = ".".join(step.name for step in path.steps[1:])
            return f"FIELD_EXTRACT({objects[path.root]}, {esql_string(rest)})", "keyword"
        raise self.path_limitation(path, "no ES|QL field")

    def scalar_expression(self, path: CloudTrailPath) -> str:
        return self._field(path)[0]

    # ---- what the token table cannot say ----------------------------------------------------------
    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        value = cond.value
        assert isinstance(value, SigmaString)
        if not value.contains_special() and not has_letters(plain_text(value)):
            return self.convert_condition_field_eq_val_str_case_sensitive(cond, state)
        # LIKE compiles to a Lucene automaton, on the lowered text (case-sensitive from there on).
        self._check_wildcards(lowercase(cond), False)
        return super().convert_condition_field_eq_val_str(lowercase(cond), state)

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        if any(
            isinstance(arg, ConditionFieldEqualsValueExpression)
            and isinstance(arg.value, SigmaString)
            and has_letters(plain_text(arg.value))
            for arg in cond.args
        ):
            return super().convert_condition_as_in_expression(self.lowercase_list(cond), state)
        with self.tokens(field_in_list_expression=self.case_sensitive_in_list_expression):
            return super().convert_condition_as_in_expression(cond, state)

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if self._field(self.resolve(cond.field))[1] == "boolean":
            with self.tokens(**self._BOOLEAN_TOKENS):
                return super().convert_condition_field_eq_val_bool(cond, state)
        return super().convert_condition_field_eq_val_bool(cond, state)

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        assert isinstance(cond.value, SigmaRegularExpression)
        if _ignorecase(cond.value):
            raise self.limitation(cond.field, "ES|QL RLIKE has no case-insensitive flag")
        regex = esql_string(self._lucene_regex(cond, "ES|QL RLIKE"))
        return self.re_expression.format(field=self.escape_and_quote_field(cond.field), regex=regex)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        self._check_wildcards(cond, False)
        return super().convert_condition_field_eq_val_str_case_sensitive(cond, state)

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if cond.field != "sourceIPAddress":
            raise self.limitation(
                cond.field, "CIDR matching needs an ip-typed field; only sourceIPAddress has one"
            )
        assert isinstance(cond.value, SigmaCIDRExpression)
        ipaddress.ip_network(cond.value.network)
        return super().convert_condition_field_eq_val_cidr(cond, state)

    def _multivalue_limitation(self, cond: ConditionFieldEqualsValueExpression) -> TargetLimitation:
        return self.limitation(
            cond.field,
            "on a multivalued (array) value ES|QL can test membership, a prefix, a suffix or a substring, "
            "not other patterns or ranges",
        )

    def convert_array_condition(
        self, cond: ConditionFieldEqualsValueExpression, path: CloudTrailPath, state: ConversionState
    ) -> str:
        """Any element of a multivalued column: membership (mv_contains) or a pattern over the values
        joined with a tab (prefix, suffix, substring); other tests are refused."""
        expr = self.scalar_expression(path)
        value = cond.value
        if isinstance(value, SigmaExists):
            template = self.mv_exists_expression if value.exists else self.mv_not_exists_expression
            return template.format(field=expr)
        if isinstance(value, SigmaNull):
            return self.field_null_expression.format(field=expr)
        if isinstance(value, SigmaNumber):
            # Flattened leaves are keywords holding the JSON text of the number ("22").
            return self.mv_contains_expression.format(field=expr, value=esql_string(str(value)))
        if not isinstance(value, SigmaString):
            raise self._multivalue_limitation(cond)
        cased = isinstance(value, SigmaCasedString)
        if not value.contains_special():
            if cased or not has_letters(plain_text(value)):
                literal = self.convert_value_str(value, state)
                return self.mv_contains_expression.format(field=expr, value=literal)
            return self.mv_contains_expression.format(
                field=f"to_lower({expr})", value=self.convert_value_str(value.lower(), state)
            )
        if _holds_tab(value):
            raise self.limitation(
                cond.field,
                "on a multivalued (array) value ES|QL patterns test the values joined with a tab, so a "
                "value holding a tab cannot be matched exactly",
            )
        pattern = element_pattern(value)
        if pattern is None:
            raise self._multivalue_limitation(cond)
        joined = self.mv_joined_expression.format(field=expr)
        if not cased:
            joined, pattern = f"to_lower({joined})", pattern.lower()
        return self.mv_like_expression.format(joined=joined, value=self.convert_value_str(pattern, state))


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
