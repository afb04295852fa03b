"""Microsoft Sentinel KQL over the AWSCloudTrail table.

Why not pysigma-backend-kusto: it has no AWSCloudTrail mapping and quotes an unmapped dotted
field as a string literal (`'requestParameters.x' =~ "y"`), a constant predicate that binds
cleanly and never fires. Here every field is resolved through the CloudTrail registry:
top-level fields become AWSCloudTrail columns, nested ones read the JSON-text columns with
`parse_json`, and an array step is tested element by element with `mv-apply`. A field with
no column and no JSON column behind it is an error, so a literal left operand cannot occur.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionValueExpression,
)
from sigma.conversion.deferred import DeferredQueryExpression
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule
from sigma.types import SigmaCIDRExpression, SigmaRegularExpression

from snaptrail.backends.chains import Chain, ChainStep, SlidingWindowChains
from snaptrail.backends.cloudtrail_pipeline import cloudtrail_pipeline
from snaptrail.backends.expression_base import CloudTrailExpressionBackend, Predicate
from snaptrail.backends.plugin import SnaptrailBackend
from snaptrail.cloudtrail.registry import CloudTrailPath, Step, load_json_data

TARGET = "sentinel"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@cache
def sentinel_table() -> dict[str, Any]:
    return load_json_data("sentinel_table.json")  # type: ignore[no-any-return]


@cache
def _columns() -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """(CloudTrail scalar path -> (column, kusto type), JSON object root -> JSON-text column)."""
    scalars: dict[str, tuple[str, str]] = {}
    json_roots: dict[str, str] = {}
    for column in sentinel_table()["columns"]:
        source = column.get("source")
        if not source:
            continue
        if column.get("json"):
            json_roots.setdefault(source, column["name"])
        else:
            scalars.setdefault(source, (column["name"], column["type"]))
    return scalars, json_roots


def table_name() -> str:
    return str(sentinel_table()["table"])


# KQL's string-literal escapes (Kusto.Language's lexer): a raw newline or carriage return ends the
# literal, so they, tab, the quote and the backslash get their named escapes. Every other control or
# line-separator character becomes \uXXXX: Kusto.Language accepts it raw, but an invisible character
# in a query is one an analyst cannot read and an editor may break the line at.
_KQL_NAMED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _kql_escape(char: str) -> str:
    named = _KQL_NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
        return f"\\u{ord(char):04x}"
    return char


def kql_string_body(text: str) -> str:
    """The text between the quotes of a double-quoted KQL string literal whose value is `text`."""
    return "".join(_kql_escape(char) for char in text)


def kql_string(text: str) -> str:
    return '"' + kql_string_body(text) + '"'


def _member(base: str, steps: tuple[Step, ...]) -> str:
    out = base
    for step in steps:
        out += f".{step.name}" if _IDENTIFIER.match(step.name) else f"[{kql_string(step.name)}]"
    return out


def sentinel_name(path: CloudTrailPath) -> str:
    """Validates that the table can hold this path; the backend renders the expression."""
    scalars, json_roots = _columns()
    if path.sigma_name in scalars or path.root in json_roots:
        return path.sigma_name
    if path.root == "resources":
        return path.sigma_name
    raise ValueError(
        f"the {table_name()} table has no column holding '{path.sigma_name}' "
        "(Microsoft's connector drops it or stores it under no documented name)"
    )


def sentinel_pipeline() -> ProcessingPipeline:
    return cloudtrail_pipeline(
        "snaptrail: CloudTrail for Microsoft Sentinel (AWSCloudTrail)",
        TARGET,
        sentinel_name,
        ["snaptrail_sentinel"],
    )


@dataclass
class MvApplyStage(DeferredQueryExpression):
    """One `mv-apply` stage: expands an array path and counts the elements a predicate holds for into
    the flag `__anyN`, which the condition then tests (`__anyN > 0`). pySigma keeps deferred
    expressions in the conversion state; finish_query writes them after the main filter."""

    text: str
    flag: str

    def finalize_expression(self) -> str:
        return self.text


@dataclass
class AfterStagesFilter(DeferredQueryExpression):
    """The conjuncts that read the stages' flags: a `where` that has to run after the stages."""

    predicate: str

    def finalize_expression(self) -> str:
        return f"where {self.predicate}"


def _stages(state: ConversionState) -> list[MvApplyStage]:
    return [expression for expression in state.deferred if isinstance(expression, MvApplyStage)]


# Typed columns (bool, datetime) are null when absent, strings are empty: their entries of the token table.
_TYPED_TOKENS: dict[str, dict[str, Any]] = {
    "bool": {
        "field_null_expression": "isnull({field})",
        "field_exists_expression": "isnotnull({field})",
        "field_not_exists_expression": "not (isnotnull({field}))",
        "bool_expression": "{field} == {value}",
        "bool_values": {True: "true", False: "false"},
    },
    "datetime": {
        "field_null_expression": "isnull({field})",
        "field_exists_expression": "isnotnull({field})",
        "field_not_exists_expression": "not (isnotnull({field}))",
    },
}


class SentinelBackend(SnaptrailBackend, SlidingWindowChains, CloudTrailExpressionBackend):
    """KQL over the AWSCloudTrail table.

    sigma-cli: `sigma convert -t snaptrail_sentinel [-O key=value ...] rules/`; format `default`;
    options `filters=true|false` and `config=PATH` (see snaptrail.backends.plugin).
    """

    name: ClassVar[str] = "snaptrail Microsoft Sentinel KQL (AWSCloudTrail)"
    identifier: ClassVar[str] = "snaptrail_sentinel"
    target: ClassVar[str] = TARGET
    formats: ClassVar[dict[str, str]] = {"default": "KQL query over the AWSCloudTrail table"}
    default_pipeline = staticmethod(sentinel_pipeline)

    # ---- token table ----------------------------------------------------------------------------
    eq_token: ClassVar[str] = " =~ "
    eq_expression: ClassVar[str] = "{field} =~ {value}"
    case_sensitive_eq_expression: ClassVar[str] = "{field} == {value}"
    startswith_expression: ClassVar[str] = "{field} startswith {value}"
    endswith_expression: ClassVar[str] = "{field} endswith {value}"
    contains_expression: ClassVar[str] = "{field} contains {value}"
    case_sensitive_startswith_expression: ClassVar[str] = "{field} startswith_cs {value}"
    case_sensitive_endswith_expression: ClassVar[str] = "{field} endswith_cs {value}"
    case_sensitive_contains_expression: ClassVar[str] = "{field} contains_cs {value}"
    # Any other wildcard use is a full-match regex; KQL strings have no wildcards of their own. Sigma's
    # wildcards match any character, a newline too: RE2's `.` does so only with the s flag.
    wildcard_match_expression: ClassVar[str] = '{field} matches regex "(?is)^{regex}$"'
    case_sensitive_match_expression: ClassVar[str] = '{field} matches regex "(?s)^{regex}$"'
    wildcard_multi: ClassVar[str] = "*"
    wildcard_single: ClassVar[str] = "?"
    escape_char: ClassVar[str] = "\\"
    # With SigmaString.to_regex's own set, exactly the characters Python's re.escape escapes.
    add_escaped_re: ClassVar[str] = "-&~# \t\n\r\v\f"
    # The pattern is the value of a KQL string literal (convert_value_re); flags as pySigma's (?ims) prefix.
    re_expression: ClassVar[str] = '{field} matches regex "{regex}"'
    field_in_list_expression: ClassVar[str] = "{field} {op} ({list})"
    or_in_operator: ClassVar[str] = "in~"
    cidr_expression: ClassVar[str] = 'ipv4_is_in_range({field}, "{value}")'
    cidr6_expression: ClassVar[str] = 'ipv6_is_in_range({field}, "{value}")'
    # toreal() of an absent value is null and `not(null)` drops the row; Sigma says an absent field
    # does not match, so numeric tests are coalesced to false (strings are never null in Kusto).
    compare_op_expression: ClassVar[str] = "coalesce(toreal({field}) {operator} {value}, false)"
    field_eq_num_expression: ClassVar[str] = "coalesce(toreal({field}) == {value}, false)"
    bool_values: ClassVar[dict[bool, str | None]] = {True: '"true"', False: '"false"'}
    bool_expression: ClassVar[str] = "{field} =~ {value}"
    field_null_expression: ClassVar[str] = "isempty({field})"
    field_exists_expression: ClassVar[str] = "isnotempty({field})"
    field_not_exists_expression: ClassVar[str] = "not (isnotempty({field}))"
    field_equals_field_expression: ClassVar[str] = "{field1} =~ {field2}"
    # The query is `AWSCloudTrail | where <before the stages> | mv-apply ... | where <after> | project-away`.
    deferred_start: ClassVar[str] = "\n| "
    deferred_separator: ClassVar[str] = "\n| "

    _in_condition: bool = False  # converting below the root of a rule's condition

    def quote_string(self, s: str) -> str:
        return kql_string(s)

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
        """The pattern, flag prefix included, as the body of a KQL string literal: KQL's escapes
        (quote, backslash, control characters) are undone by the lexer, so RE2 gets the pattern as
        written, its own backslash escapes included."""
        pattern = r.escape([], self.re_escape_char, escape_escape_char=False, flag_prefix=self.re_flag_prefix)
        return kql_string_body(pattern)

    # ---- paths ----------------------------------------------------------------------------------
    def _typed(self, path: CloudTrailPath) -> tuple[str, str]:
        scalars, json_roots = _columns()
        if path.sigma_name in scalars:
            return scalars[path.sigma_name]
        if path.root in json_roots:
            return _member(f"parse_json({json_roots[path.root]})", path.steps[1:]), "dynamic"
        raise self.path_limitation(path, sentinel_name.__doc__ or "")

    def scalar_expression(self, path: CloudTrailPath) -> str:
        expr, kind = self._typed(path)
        return f"tostring({expr})" if kind == "dynamic" else expr

    def any_element(self, path: CloudTrailPath, predicate: Predicate, state: ConversionState) -> str:
        _, json_roots = _columns()
        if path.root == "resources":
            base = "parse_json(Resources)"
        elif path.root in json_roots:
            base = f"parse_json({json_roots[path.root]})"
        else:
            raise self.path_limitation(path, "array path outside the JSON-text columns")
        index = len(_stages(state))
        segments = path.split_at_arrays()
        first, middle, leaf = segments[0], segments[1:-1], segments[-1]
        element = f"__e{index}_0"
        expansions = []
        source = _member(base, first[1:])
        for depth, segment in enumerate(middle, start=1):
            inner = f"__e{index}_{depth}"
            expansions.append(f"mv-expand {inner} = {_member(element, segment)}")
            element = inner
        value = f"tostring({_member(element, leaf)})"
        flag = f"__any{index}"
        body = " | ".join([*expansions, f"summarize {flag} = countif({predicate(value)})"])
        MvApplyStage(state, f"mv-apply __e{index}_0 = {source} on ({body})", flag)
        return f"{flag} > 0"

    # ---- what the token table cannot say ----------------------------------------------------------
    def convert_condition_field_eq_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        scalars, _ = _columns()
        column = scalars.get(str(cond.field))
        with self.tokens(**_TYPED_TOKENS.get(column[1] if column else "", {})):
            return super().convert_condition_field_eq_val(cond, state)

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        assert isinstance(cond.value, SigmaCIDRExpression)
        if isinstance(cond.value.network, ipaddress.IPv6Network):
            with self.tokens(cidr_expression=self.cidr6_expression):
                return super().convert_condition_field_eq_val_cidr(cond, state)
        return super().convert_condition_field_eq_val_cidr(cond, state)

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Any:
        # KQL's `not` is a function: not(expr).
        return f"not({self.convert_condition(cond.args[0], state)})"

    # ---- query assembly -------------------------------------------------------------------------
    def convert_condition(
        self,
        cond: ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression | None,
        state: ConversionState,
    ) -> Any:
        """At the root, conjuncts that need no mv-apply are kept apart so they filter rows before the
        stages (the main query); the others become a deferred `where` after the stages."""
        if self._in_condition:
            return super().convert_condition(cond, state)
        self._in_condition = True
        try:
            return self._convert_root(cond, state)
        finally:
            self._in_condition = False

    def _convert_root(
        self,
        cond: ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression | None,
        state: ConversionState,
    ) -> Any:
        before: list[str] = []
        after: list[str] = []
        for arg in self._conjuncts(cond) if isinstance(cond, ConditionAND) else [cond]:
            stages = len(_stages(state))
            if arg is cond or self.compare_precedence(cond, arg):  # type: ignore[arg-type]
                text = self.convert_condition(arg, state)
            else:
                text = self.convert_condition_group(arg, state)
            (after if len(_stages(state)) > stages else before).append(str(text))
        if after:
            filter_after = AfterStagesFilter(state, " and ".join(after))
            if not before:
                return filter_after  # pySigma's convention: the whole query is deferred
        return " and ".join(before)

    @classmethod
    def _conjuncts(cls, cond: ConditionAND) -> list[Any]:
        """The operands of nested ANDs, flattened (a AND (b AND c) -> a, b, c)."""
        result = []
        for arg in cond.args:
            result.extend(cls._conjuncts(arg) if isinstance(arg, ConditionAND) else [arg])
        return result

    def finish_query(self, rule: SigmaRule | SigmaCorrelationRule, query: Any, state: ConversionState) -> Any:
        """pySigma appends deferred parts after the main query; in KQL the main query is the `where`
        before the stages (if any), then the stages and the filter after them, then the stages'
        flags are dropped."""
        if isinstance(rule, SigmaCorrelationRule):
            return super().finish_query(rule, query, state)  # a chain is a complete query
        parts = [f"where {query}"] if isinstance(query, str) and query else []
        parts.extend(str(expression.finalize_expression()) for expression in state.deferred)
        flags = [stage.flag for stage in _stages(state)]
        if flags:
            parts.append(f"project-away {', '.join(flags)}")
        return table_name() + self.deferred_start + self.deferred_separator.join(parts)

    # ---- chains ---------------------------------------------------------------------------------
    # A chain query returns one row per alert: TimeGenerated, EventIds (in order), ChainKey.
    def _step_let(self, index: int, step: ChainStep, chain: Chain) -> str:
        keys = [self.scalar_expression(self.resolve(field)) for field in step.keys]
        key = keys[0] if len(keys) == 1 else "strcat(" + ', "|", '.join(keys) + ")"
        value = ""
        if chain.value_field is not None:
            value = f", v = {self.scalar_expression(self.resolve(chain.value_field))}"
        present = " and ".join(f"isnotempty({k})" for k in keys)
        # `extend`, not `project`: the alert row keeps every AWSCloudTrail column (entities, details).
        return (
            f"let s{index} = {step.query}\n| where {present}\n"
            f"| extend t = TimeGenerated, id = AwsEventId, k = {key}{value};"
        )

    def chain_query(self, chain: Chain) -> str:
        """One row per alert: the AWSCloudTrail row of the chain's last event, plus EventIds (in
        order) and ChainKey."""
        window = f"{chain.window_seconds}s"
        lets = [self._step_let(i, step, chain) for i, step in enumerate(chain.steps, start=1)]
        helpers = "t, id, k"
        if chain.kind == "ordered":
            last = len(chain.steps)
            lets.append("let c1 = s1 | project k, start_t = t, end_t = t, end_id = id, ids = pack_array(id);")
            for i in range(2, last + 1):
                joined = (
                    f"s{i}\n| join kind=inner c{i - 1} on k\n"
                    f"| where end_t <= t and end_id != id and t - start_t <= {window}\n"
                    f"| summarize arg_max(start_t, *) by id"
                )
                if i < last:
                    lets.append(
                        f"let c{i} = {joined}\n"
                        "| project k, start_t, end_t = t, end_id = id, "
                        "ids = array_concat(ids, pack_array(id));"
                    )
                else:
                    body = (
                        f"{joined}\n| extend EventIds = array_concat(ids, pack_array(id)), ChainKey = k\n"
                        f"| project-away {helpers}, k1, start_t, end_t, end_id, ids"
                    )
            if last == 1:
                body = f"s1\n| extend EventIds = pack_array(id), ChainKey = k\n| project-away {helpers}"
            return "\n".join([*lets, body])
        union = "union " + ", ".join(f"s{i}" for i in range(1, len(chain.steps) + 1))
        value = ", v2 = v" if chain.kind == "distinct" else ""
        # Kusto strings are never null: an absent value is "" and must not count as a distinct value.
        measure = "array_length(make_set_if(v2, isnotempty(v2)))" if chain.kind == "distinct" else "count()"
        extra = ", v" if chain.kind == "distinct" else ""
        body = (
            f"let events = {union};\n"
            f"events\n| project t, id, k{extra}\n"
            f"| join kind=inner (events | project t2 = t, id2 = id, k{value}) on k\n"
            f"| where t2 <= t and t - t2 <= {window}\n"
            f"| summarize n = {measure}, EventIds = make_list(id2) by k, t, id\n"
            f"| order by k asc, t asc\n"
            f"| extend prev_n = iff(prev(k) == k, prev(n), 0)\n"
            f"| where n >= {chain.threshold} and prev_n < {chain.threshold}\n"
            f"| join kind=inner (events | project-away t, k{extra}) on id\n"
            f"| extend ChainKey = k\n"
            f"| project-away t, id, id1, k, n, prev_n"
        )
        return "\n".join([*lets, body])
