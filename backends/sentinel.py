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
from functools import cache
from typing import Any, ClassVar

from sigma.conditions import ConditionAND
from sigma.conversion.state import ConversionState
from sigma.processing.pipeline import ProcessingPipeline
from sigma.types import SigmaCIDRExpression, SigmaRegularExpression, SigmaString

from snaptrail.backends.chains import Chain, ChainStep, base_queries, build_chain
from snaptrail.backends.cloudtrail_pipeline import DefaultCloudTrailPipeline, cloudtrail_pipeline
from snaptrail.backends.expression_base import CloudTrailExpressionBackend, Predicate
from snaptrail.backends.values import anchored_regex, inline_flags, plain_text, regex_text, wildcard_shape
from snaptrail.cloudtrail.registry import CloudTrailPath, Step, load_json_data

TARGET = "sentinel"
_STAGES = "snaptrail_kql_stages"
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


def kql_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


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


class SentinelBackend(DefaultCloudTrailPipeline, CloudTrailExpressionBackend):
    name: ClassVar[str] = "snaptrail Microsoft Sentinel KQL (AWSCloudTrail)"
    identifier: ClassVar[str] = "snaptrail_sentinel"
    target: ClassVar[str] = TARGET
    formats: ClassVar[dict[str, str]] = {"default": "KQL query over the AWSCloudTrail table"}
    default_pipeline = staticmethod(sentinel_pipeline)
    # KQL's `not` is a function: not(expr).
    not_token: ClassVar[str] = "not"

    # ---- expressions ----------------------------------------------------------------------------
    def _typed(self, path: CloudTrailPath) -> tuple[str, str]:
        scalars, json_roots = _columns()
        if path.sigma_name in scalars:
            return scalars[path.sigma_name]
        if path.root in json_roots:
            return _member(f"parse_json({json_roots[path.root]})", path.steps[1:]), "dynamic"
        raise self.limitation(path, sentinel_name.__doc__ or "")

    def scalar_expression(self, path: CloudTrailPath) -> str:
        expr, kind = self._typed(path)
        return f"tostring({expr})" if kind == "dynamic" else expr

    def _kind(self, expr: str, path: CloudTrailPath) -> str:
        scalars, _ = _columns()
        if path.sigma_name in scalars and not expr.startswith("tostring(__e"):
            return scalars[path.sigma_name][1]
        return "string"

    def any_element(self, path: CloudTrailPath, predicate: Predicate, state: ConversionState) -> str:
        _, json_roots = _columns()
        if path.root == "resources":
            base = "parse_json(Resources)"
        elif path.root in json_roots:
            base = f"parse_json({json_roots[path.root]})"
        else:
            raise self.limitation(path, "array path outside the JSON-text columns")
        stages: list[str] = state.processing_state.setdefault(_STAGES, [])
        index = len(stages)
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
        stages.append(f"mv-apply {element.rsplit('_', 1)[0]}_0 = {source} on ({body})")
        state.processing_state.setdefault("snaptrail_kql_flags", []).append(flag)
        return f"{flag} > 0"

    def string_literal(self, text: str) -> str:
        return kql_string(text)

    def op_equals(self, expr: str, text: str, cased: bool, path: CloudTrailPath) -> str:
        return f"{expr} {'==' if cased else '=~'} {kql_string(text)}"

    def op_wildcard(self, expr: str, value: SigmaString, cased: bool, path: CloudTrailPath) -> str:
        shape = wildcard_shape(value)
        suffix = "_cs" if cased else ""
        if shape is not None and shape[0] in ("startswith", "endswith", "contains"):
            return f"{expr} {shape[0]}{suffix} {kql_string(shape[1])}"
        regex = anchored_regex(value)
        return f"{expr} matches regex {kql_string(regex if cased else '(?i)' + regex)}"

    def op_regex(self, expr: str, value: SigmaRegularExpression, path: CloudTrailPath) -> str:
        return f"{expr} matches regex {kql_string(inline_flags(value) + regex_text(value))}"

    def op_cidr(self, expr: str, value: SigmaCIDRExpression, path: CloudTrailPath) -> str:
        function = (
            "ipv4_is_in_range" if isinstance(value.network, ipaddress.IPv4Network) else "ipv6_is_in_range"
        )
        return f"{function}({expr}, {kql_string(str(value.network))})"

    # Strings are never null in Kusto, but toreal() of an absent value is, and `not(null)` drops the
    # row; Sigma says an absent field does not match, so numeric tests are coalesced to false.
    def op_compare(self, expr: str, symbol: str, number: float | int, path: CloudTrailPath) -> str:
        return f"coalesce(toreal({expr}) {symbol} {number}, false)"

    def op_number_equals(self, expr: str, number: float | int, path: CloudTrailPath) -> str:
        return f"coalesce(toreal({expr}) == {number}, false)"

    def op_bool(self, expr: str, value: bool, path: CloudTrailPath) -> str:
        if self._kind(expr, path) == "bool":
            return f"{expr} == {'true' if value else 'false'}"
        return f"{expr} =~ {kql_string('true' if value else 'false')}"

    def op_is_null(self, expr: str, path: CloudTrailPath) -> str:
        return f"isnull({expr})" if self._kind(expr, path) in ("bool", "datetime") else f"isempty({expr})"

    def op_exists(self, expr: str, path: CloudTrailPath) -> str:
        return (
            f"isnotnull({expr})" if self._kind(expr, path) in ("bool", "datetime") else f"isnotempty({expr})"
        )

    def op_field_equals_field(self, left: str, right: str) -> str:
        return f"{left} =~ {right}"

    def _in_expression(self, cond: Any, state: ConversionState) -> Any:
        path = self.resolve(cond.args[0].field)
        values = ", ".join(kql_string(plain_text(arg.value)) for arg in cond.args)
        return f"{self.scalar_expression(path)} in~ ({values})"

    def convert_condition_not(self, cond: Any, state: ConversionState) -> Any:
        inner = self.convert_condition(cond.args[0], state)
        return f"not({inner})"

    # ---- query assembly -------------------------------------------------------------------------
    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> Any:
        """At the root, conjuncts that need no mv-apply are kept apart so they filter rows first."""
        if not self._is_top(cond):
            return super().convert_condition_and(cond, state)
        scalar_parts, array_parts = [], []
        for arg in self._conjuncts(cond):
            before = len(state.processing_state.get(_STAGES, []))
            if self.compare_precedence(cond, arg):
                text = self.convert_condition(arg, state)
            else:
                text = self.convert_condition_group(arg, state)
            after = len(state.processing_state.get(_STAGES, []))
            (array_parts if after > before else scalar_parts).append(str(text))
        state.processing_state["snaptrail_kql_prefilter"] = " and ".join(scalar_parts)
        return " and ".join(array_parts) if array_parts else ""

    @classmethod
    def _conjuncts(cls, cond: ConditionAND) -> list[Any]:
        """The operands of nested ANDs, flattened (a AND (b AND c) -> a, b, c)."""
        result = []
        for arg in cond.args:
            result.extend(cls._conjuncts(arg) if isinstance(arg, ConditionAND) else [arg])
        return result

    @staticmethod
    def _is_top(cond: Any) -> bool:
        from sigma.conditions import ConditionItem

        parent = cond.parent
        # The root condition's parent is the parsed-condition holder, not a condition item.
        return not isinstance(parent, ConditionItem)

    def finish_query(self, rule: Any, query: Any, state: ConversionState) -> Any:
        return query

    # ---- chains ---------------------------------------------------------------------------------
    # A chain query returns one row per alert: TimeGenerated, EventIds (in order), ChainKey.
    def convert_correlation_rule(
        self, rule: Any, output_format: Any = None, method: Any = None, callback: Any = None
    ):
        self._rule = rule
        self.last_processing_pipeline.apply(rule)
        return [self._chain_kql(build_chain(rule, self.target, base_queries(rule)))]

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

    def _chain_kql(self, chain: Chain) -> str:
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

    def finalize_query_default(self, rule: Any, query: Any, index: int, state: ConversionState) -> Any:
        lines = [table_name()]
        prefilter = state.processing_state.get("snaptrail_kql_prefilter")
        if prefilter:
            lines.append(f"| where {prefilter}")
        stages = state.processing_state.get(_STAGES, [])
        lines.extend(f"| {stage}" for stage in stages)
        if query:
            lines.append(f"| where {query}")
        flags = state.processing_state.get("snaptrail_kql_flags", [])
        if flags:
            lines.append(f"| project-away {', '.join(flags)}")
        return "\n".join(lines)
