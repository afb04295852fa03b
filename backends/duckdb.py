"""DuckDB SQL over raw CloudTrail records: the embedded engine behind the tests and `snaptrail scan`.

Records sit in table `cloudtrail` with the record's JSON in column `raw` (see
snaptrail.engine). Paths are read with DuckDB's JSON functions; an array step becomes a
JSONPath wildcard, which returns a list, and "any element matches" is `list_filter`.
pysigma-backend-duckdb is not used: it quotes dotted paths as one column and has no arrays.
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from sigma.conversion.state import ConversionState
from sigma.processing.pipeline import ProcessingPipeline
from sigma.types import SigmaCIDRExpression, SigmaRegularExpression, SigmaString

from snaptrail.backends.chains import Chain, ChainStep, base_queries, build_chain
from snaptrail.backends.cloudtrail_pipeline import DefaultCloudTrailPipeline, cloudtrail_pipeline
from snaptrail.backends.expression_base import CloudTrailExpressionBackend, Predicate
from snaptrail.backends.values import inline_flags, like_pattern, regex_text
from snaptrail.cloudtrail.registry import CloudTrailPath

TABLE = "cloudtrail"
# Envelope fields the table also holds as columns (snaptrail.engine fills them): a rule's test on
# them is a column comparison, not a JSON parse, and DuckDB evaluates it first.
COLUMNS = ("eventSource", "eventName")


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


def duckdb_pipeline() -> ProcessingPipeline:
    # Raw records keep CloudTrail's names: the pipeline only validates fields against the registry.
    return cloudtrail_pipeline(
        "snaptrail: raw CloudTrail in DuckDB", "duckdb", lambda path: path.sigma_name, ["snaptrail_duckdb"]
    )


class DuckDBBackend(DefaultCloudTrailPipeline, CloudTrailExpressionBackend):
    name: ClassVar[str] = "snaptrail DuckDB (raw CloudTrail JSON)"
    identifier: ClassVar[str] = "snaptrail_duckdb"
    target: ClassVar[str] = "duckdb"
    formats: ClassVar[dict[str, str]] = {"default": "DuckDB SQL over table cloudtrail(raw JSON, ...)"}
    default_pipeline = staticmethod(duckdb_pipeline)

    def string_literal(self, text: str) -> str:
        return sql_string(text)

    def scalar_expression(self, path: CloudTrailPath) -> str:
        if path.sigma_name in COLUMNS:
            return f'"{path.sigma_name}"'
        return f"json_extract_string(raw, {sql_string(json_path(path))})"

    def any_element(self, path: CloudTrailPath, predicate: Predicate, state: ConversionState) -> str:
        values = f"json_extract_string(raw, {sql_string(json_path(path))})"
        return f"len(list_filter({values}, lambda x: {predicate('x')})) > 0"

    def op_equals(self, expr: str, text: str, cased: bool, path: CloudTrailPath) -> str:
        if cased:
            return f"{expr} = {sql_string(text)}"
        return f"lower({expr}) = {sql_string(text.lower())}"

    def op_wildcard(self, expr: str, value: SigmaString, cased: bool, path: CloudTrailPath) -> str:
        operator = "LIKE" if cased else "ILIKE"
        return f"{expr} {operator} {sql_string(like_pattern(value))} ESCAPE '\\'"

    def op_regex(self, expr: str, value: SigmaRegularExpression, path: CloudTrailPath) -> str:
        # RE2 search semantics, like Sigma's unanchored regex; flags inline.
        return f"regexp_matches({expr}, {sql_string(inline_flags(value) + regex_text(value))})"

    def op_cidr(self, expr: str, value: SigmaCIDRExpression, path: CloudTrailPath) -> str:
        network = value.network
        if not isinstance(network, ipaddress.IPv4Network):
            raise self.limitation(
                path, "IPv6 CIDR matching needs DuckDB's inet extension, not available offline"
            )
        low, high = int(network.network_address), int(network.broadcast_address)
        octets = " + ".join(
            f"TRY_CAST(split_part({expr}, '.', {i + 1}) AS BIGINT) * {256 ** (3 - i)}" for i in range(4)
        )
        dotted_quad = sql_string(r"(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}")
        return f"(regexp_full_match({expr}, {dotted_quad}) AND ({octets}) BETWEEN {low} AND {high})"

    def op_compare(self, expr: str, symbol: str, number: float | int, path: CloudTrailPath) -> str:
        return f"TRY_CAST({expr} AS DOUBLE) {symbol} {number}"

    def op_number_equals(self, expr: str, number: float | int, path: CloudTrailPath) -> str:
        return f"TRY_CAST({expr} AS DOUBLE) = {number}"

    def op_bool(self, expr: str, value: bool, path: CloudTrailPath) -> str:
        # JSON true/false and CloudTrail's string "true"/"false" both read as that text.
        return f"lower({expr}) = {sql_string('true' if value else 'false')}"

    def op_is_null(self, expr: str, path: CloudTrailPath) -> str:
        return f"({expr} IS NULL)"

    def op_exists(self, expr: str, path: CloudTrailPath) -> str:
        return f"({expr} IS NOT NULL)"

    def null_safe(self, predicate: str) -> str:
        return f"coalesce({predicate}, false)"

    def op_field_pattern(self, path: CloudTrailPath, other: CloudTrailPath, reference: Any) -> str:
        if path.has_array or other.has_array:
            raise self.limitation(
                path, "a pattern built from another field on an array path is not supported"
            )
        left, right = self.scalar_expression(path), self.scalar_expression(other)
        if reference.starts_with and reference.ends_with:
            return f"contains(lower({left}), lower({right}))"
        if reference.starts_with:  # |fieldref|startswith: the field starts with the other field's value
            return f"starts_with(lower({left}), lower({right}))"
        return f"ends_with(lower({left}), lower({right}))"

    def op_field_equals_field(self, left: str, right: str) -> str:
        return f"lower({left}) = lower({right})"

    def _in_expression(self, cond: Any, state: ConversionState) -> Any:
        from snaptrail.backends.values import plain_text

        path = self.resolve(cond.args[0].field)
        values = ", ".join(sql_string(plain_text(arg.value).lower()) for arg in cond.args)
        return f"lower({self.scalar_expression(path)}) IN ({values})"

    def finalize_query_default(self, rule: Any, query: Any, index: int, state: ConversionState) -> Any:
        return f"SELECT * FROM {TABLE} WHERE {query}"

    # ---- chains ---------------------------------------------------------------------------------
    # A chain query returns one row per alert: event_time, event_ids (in order), chain_key.
    def convert_correlation_rule(
        self, rule: Any, output_format: Any = None, method: Any = None, callback: Any = None
    ):
        self._rule = rule
        self.last_processing_pipeline.apply(rule)
        chain = build_chain(rule, self.target, base_queries(rule))
        return [self._chain_sql(chain)]

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

    def _chain_sql(self, chain: Chain) -> str:
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
