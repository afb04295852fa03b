"""DuckDB SQL over raw CloudTrail records: the embedded engine behind the tests and `snaptrail scan`.

Records sit in table `cloudtrail` with the record's JSON in column `raw` and the envelope fields of
COLUMNS and EXTRACTED beside it as VARCHAR columns of those names (snaptrail.engine creates and fills
it: a table of your own needs the same columns). Other paths are read with DuckDB's JSON functions;
an array step becomes a JSONPath wildcard, which returns a list, and "any element matches" is
`list_filter`.
pysigma-backend-duckdb is not used: it quotes dotted paths as one column and has no arrays.
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule
from sigma.types import SigmaCIDRExpression, SigmaString

from snaptrail.backends.chains import Chain, ChainStep, SlidingWindowChains
from snaptrail.backends.cloudtrail_pipeline import cloudtrail_pipeline
from snaptrail.backends.expression_base import CloudTrailExpressionBackend, Predicate, lowercase
from snaptrail.backends.plugin import SnaptrailBackend
from snaptrail.cloudtrail.registry import CloudTrailPath

TABLE = "cloudtrail"
# Envelope fields every engine's table also holds as columns (snaptrail.engine, snaptrail.spark_scan
# fill them): a rule's test on them is a column comparison, not a JSON parse, and runs first.
COLUMNS = ("eventSource", "eventName")
# Further envelope fields DuckDB's table holds as columns, each filled once per record from the
# record's JSON by the same json_extract_string a query would run: who called, from where, with
# which error. Every service-role filter reads them, in every rule, so inline they were most of a
# scan's JSON parsing.
EXTRACTED = (
    "errorCode",
    "sourceIPAddress",
    "recipientAccountId",
    "awsRegion",
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.accountId",
    "userIdentity.invokedBy",
    "userIdentity.sessionContext.sessionIssuer.arn",
)
# An IPv4 address in dotted-quad form, each octet 0-255 (matched whole): the text a CIDR test reads
# as four numbers (the Spark target tests it the same way).
DOTTED_QUAD = r"(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}"


def json_path(path: CloudTrailPath) -> str:
    """DuckDB JSONPath with every key quoted and `[*]` after array steps."""
    parts = ["$"]
    for step in path.steps:
        key = step.name.replace('"', '\\"')
        parts.append(f'."{key}"')
        if step.array:
            parts.append("[*]")
    return "".join(parts)


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def extracted_path(name: str) -> str:
    """The JSONPath (an SQL string) whose json_extract_string fills column `name` of EXTRACTED: the
    one a query on that field would read."""
    return sql_string(json_path(CloudTrailPath.parse(name)))


def duckdb_pipeline() -> ProcessingPipeline:
    # Raw records keep CloudTrail's names: the pipeline only validates fields against the registry.
    return cloudtrail_pipeline(
        "snaptrail: raw CloudTrail in DuckDB", "duckdb", lambda path: path.sigma_name, ["snaptrail_duckdb"]
    )


class DuckDBBackend(SnaptrailBackend, SlidingWindowChains, CloudTrailExpressionBackend):
    """DuckDB SQL over raw CloudTrail records (what `snaptrail scan` runs).

    sigma-cli: `sigma convert -t snaptrail_duckdb [-O key=value ...] rules/`; format `default`;
    options `filters=true|false` and `config=PATH` (see snaptrail.backends.plugin).
    """

    name: ClassVar[str] = "snaptrail DuckDB (raw CloudTrail JSON)"
    identifier: ClassVar[str] = "snaptrail_duckdb"
    target: ClassVar[str] = "duckdb"
    formats: ClassVar[dict[str, str]] = {"default": "DuckDB SQL over table cloudtrail(raw JSON, ...)"}
    default_pipeline = staticmethod(duckdb_pipeline)

    # ---- token table ----------------------------------------------------------------------------
    # Patterns are LIKE patterns: `%` and `_` wildcards; literal `%`, `_` and `\` escaped with `\`.
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "%"
    wildcard_single: ClassVar[str] = "_"
    add_escaped: ClassVar[str] = "\\"
    # Case-insensitive equality lowers both sides (the value in convert_condition_field_eq_val_str);
    # a pattern uses ILIKE instead.
    eq_expression: ClassVar[str] = "lower({field}) = {value}"
    wildcard_match_expression: ClassVar[str] = "{field} ILIKE {value} ESCAPE '\\'"
    case_sensitive_eq_expression: ClassVar[str] = "{field} = {value}"
    case_sensitive_match_expression: ClassVar[str] = "{field} LIKE {value} ESCAPE '\\'"
    field_in_list_expression: ClassVar[str] = "lower({field}) {op} ({list})"
    or_in_operator: ClassVar[str] = "IN"
    # RE2 search semantics, like Sigma's unanchored regex; flags as an inline group (pySigma's
    # re_flag_prefix); inside the SQL literal the quote is doubled.
    re_expression: ClassVar[str] = "regexp_matches({field}, '{regex}')"
    re_escape: ClassVar[list[str]] = ["'"]
    re_escape_char: ClassVar[str] = "'"
    re_escape_escape_char: bool = False
    # Numbers and comparisons read the JSON text as a number; a non-number is NULL, not an error.
    compare_op_expression: ClassVar[str] = "TRY_CAST({field} AS DOUBLE) {operator} {value}"
    field_eq_num_expression: ClassVar[str] = "TRY_CAST({field} AS DOUBLE) = {value}"
    # JSON true/false and CloudTrail's string "true"/"false" both read as that text.
    bool_values: ClassVar[dict[bool, str | None]] = {True: "'true'", False: "'false'"}
    bool_expression: ClassVar[str] = "lower({field}) = {value}"
    field_null_expression: ClassVar[str] = "({field} IS NULL)"
    field_exists_expression: ClassVar[str] = "({field} IS NOT NULL)"
    field_not_exists_expression: ClassVar[str] = "not (({field} IS NOT NULL))"
    field_equals_field_expression: ClassVar[str] = "lower({field1}) = lower({field2})"
    # |fieldref|startswith: the field starts with the other field's value (and so on).
    field_equals_field_startswith_expression: ClassVar[str] = "starts_with(lower({field1}), lower({field2}))"
    field_equals_field_endswith_expression: ClassVar[str] = "ends_with(lower({field1}), lower({field2}))"
    field_equals_field_contains_expression: ClassVar[str] = "contains(lower({field1}), lower({field2}))"
    null_safe_expression: ClassVar[str] = "coalesce({expr}, false)"

    def quote_string(self, s: str) -> str:
        return sql_string(s)

    # ---- paths ----------------------------------------------------------------------------------
    def scalar_expression(self, path: CloudTrailPath) -> str:
        if path.sigma_name in COLUMNS or path.sigma_name in EXTRACTED:
            return f'"{path.sigma_name}"'
        return f"json_extract_string(raw, {sql_string(json_path(path))})"

    def any_element(self, path: CloudTrailPath, predicate: Predicate, state: ConversionState) -> str:
        values = f"json_extract_string(raw, {sql_string(json_path(path))})"
        return f"len(list_filter({values}, lambda x: {predicate('x')})) > 0"

    # ---- what the token table cannot say ----------------------------------------------------------
    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        assert isinstance(cond.value, SigmaString)
        return super().convert_condition_field_eq_val_str(
            cond if cond.value.contains_special() else lowercase(cond), state
        )

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        return super().convert_condition_as_in_expression(self.lowercase_list(cond), state)

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        # The address as a number in the network's range (no inet extension offline).
        assert isinstance(cond.value, SigmaCIDRExpression)
        network = cond.value.network
        if not isinstance(network, ipaddress.IPv4Network):
            raise self.limitation(
                cond.field, "IPv6 CIDR matching needs DuckDB's inet extension, not available offline"
            )
        expr = self.escape_and_quote_field(cond.field)
        low, high = int(network.network_address), int(network.broadcast_address)
        octets = " + ".join(
            f"TRY_CAST(split_part({expr}, '.', {i + 1}) AS BIGINT) * {256 ** (3 - i)}" for i in range(4)
        )
        dotted_quad = sql_string(DOTTED_QUAD)
        return f"(regexp_full_match({expr}, {dotted_quad}) AND ({octets}) BETWEEN {low} AND {high})"

    def finalize_query_default(
        self, rule: SigmaRule | SigmaCorrelationRule, query: Any, index: int, state: ConversionState
    ) -> Any:
        if isinstance(rule, SigmaCorrelationRule):
            return query  # a chain is a complete statement
        return f"SELECT * FROM {TABLE} WHERE {query}"

    # ---- chains ---------------------------------------------------------------------------------
    # A chain query returns one row per alert: event_time, event_ids (in order), chain_key.
    def _step_events(self, index: int, step: ChainStep, chain: Chain) -> str:
        keys = [self.scalar_expression(self.resolve(field)) for field in step.keys]
        extra = ""
        if chain.value_field is not None:
            extra = f", {self.scalar_expression(self.resolve(chain.value_field))} AS v"
        present = " AND ".join(f"{key} IS NOT NULL" for key in keys)
        return (
            f"s{index} AS (SELECT seq, event_id, event_time AS t, [{', '.join(keys)}] AS k{extra} "
            f"FROM ({step.query}) WHERE {present})"
        )

    def chain_query(self, chain: Chain) -> str:
        steps = [self._step_events(i, step, chain) for i, step in enumerate(chain.steps, start=1)]
        window = f"INTERVAL {chain.window_seconds} SECOND"
        if chain.kind == "ordered":
            parts = [
                *steps,
                "c1 AS (SELECT k, t AS start_t, t AS end_t, seq AS end_seq, [event_id] AS ids FROM s1)",
            ]
            for i in range(2, len(chain.steps) + 1):
                parts.append(
                    f"c{i} AS (SELECT s.k, max(c.start_t) AS start_t, s.t AS end_t, s.seq AS end_seq, "
                    f"arg_max(list_append(c.ids, s.event_id), c.start_t) AS ids "
                    f"FROM s{i} s JOIN c{i - 1} c ON c.k = s.k AND c.end_t <= s.t AND c.end_seq <> s.seq "
                    f"AND s.t - c.start_t <= {window} GROUP BY s.k, s.t, s.seq, s.event_id)"
                )
            last = f"c{len(chain.steps)}"
            return (
                "WITH "
                + ",\n".join(parts)
                + f"\nSELECT end_t AS event_time, ids AS event_ids, k AS chain_key "
                f"FROM {last} ORDER BY end_t, end_seq"
            )
        union = " UNION ALL ".join(f"SELECT * FROM s{i}" for i in range(1, len(chain.steps) + 1))
        measure = "count(*) OVER win" if chain.kind == "count" else "len(list_distinct(list(v) OVER win))"
        return (
            "WITH " + ",\n".join(steps) + f",\nevents AS ({union}),\n"
            f"windows AS (SELECT *, {measure} AS n, list(event_id) OVER win AS ids FROM events "
            f"WINDOW win AS (PARTITION BY k ORDER BY t RANGE BETWEEN {window} PRECEDING AND CURRENT ROW)),\n"
            "crossings AS (SELECT *, lag(n) OVER (PARTITION BY k ORDER BY t, seq) AS prev_n FROM windows)\n"
            f"SELECT t AS event_time, ids AS event_ids, k AS chain_key FROM crossings "
            f"WHERE n >= {chain.threshold} AND coalesce(prev_n, 0) < {chain.threshold} ORDER BY t, seq"
        )
