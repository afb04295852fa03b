"""Spark SQL over raw CloudTrail records: the organisation-scale engine (`snaptrail scan --engine spark`).

Records sit in view `cloudtrail` with the record's JSON text in column `raw` and, read from it once,
`seq` (a number unique per record), `event_id`, `event_time` (TIMESTAMP), `eventSource` and
`eventName` (snaptrail.spark_scan.cloudtrail_frame builds it from trail files). Why raw text and not
Spark's inferred schema: inference is an extra pass over every file, and its requestParameters /
responseElements are the union of hundreds of API shapes that changes from day to day (a rule naming
a key absent from that day's files fails analysis; a key with two JSON types becomes a string). Paths
are read with `get_json_object`; an array step is parsed with `from_json(..., 'ARRAY<STRING>')` (each
element's JSON text) and "any element matches" is `exists`. Not get_json_object's `[*]`: with one
element it returns that element unwrapped, with several a JSON array.

Spark SQL string literals take backslash escapes (`spark.sql.parser.escapedStringLiterals` false, the
default): every literal here escapes backslash and quote, so a pattern's escape survives the literal.
Queries are ANSI-mode safe (Spark 4's default): casts that may fail are `try_cast`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule
from sigma.types import SigmaCIDRExpression, SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString

from snaptrail.backends.chains import Chain, ChainStep, SlidingWindowChains
from snaptrail.backends.cloudtrail_pipeline import cloudtrail_pipeline
from snaptrail.backends.duckdb import COLUMNS, DOTTED_QUAD, TABLE
from snaptrail.backends.expression_base import CloudTrailExpressionBackend, Predicate, lowercase
from snaptrail.backends.plugin import SnaptrailBackend
from snaptrail.cloudtrail.registry import CloudTrailPath, Step

# A key Spark's JSONPath reads after a dot: anything up to the next `.` or `[` (get_json_object's
# parser); other keys go in brackets, `['key']`, which ends at the first `']`.
_DOTTED_KEY = re.compile(r"[A-Za-z0-9_:@$-]+")
ELEMENT = "x"  # the lambda variable of any-element predicates
END_OF_TEXT = r"(?![\s\S])"  # no character follows, line break or not


def spark_string(text: str) -> str:
    """A Spark SQL string literal: backslash and quote escaped with a backslash."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def end_of_text_anchors(regex: str) -> str:
    r"""The regex with each `$` anchor (not escaped, outside a character class) as `(?![\s\S])`: the end
    of the text in Java (as `\z`) and in Python's re, which pySigma checks every regex with."""
    out: list[str] = []
    depth = 0  # character class nesting (Java allows classes inside classes)
    index = 0
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            out.append(regex[index : index + 2])
            index += 2
            continue
        if char == "[":
            depth += 1
            out.append(char)
            # A `]` right after `[` or `[^` is a literal member, not the end of the class.
            if regex.startswith("^", index + 1):
                out.append("^")
                index += 1
            if regex.startswith("]", index + 1):
                out.append("]")
                index += 1
        elif char == "]" and depth:
            depth -= 1
            out.append(char)
        elif char == "$" and not depth:
            out.append(END_OF_TEXT)
        else:
            out.append(char)
        index += 1
    return "".join(out)


def spark_pipeline() -> ProcessingPipeline:
    # Raw records keep CloudTrail's names: the pipeline only validates fields against the registry.
    return cloudtrail_pipeline(
        "snaptrail: raw CloudTrail in Spark SQL", "spark", lambda path: path.sigma_name, ["snaptrail_spark"]
    )


class SparkBackend(SnaptrailBackend, SlidingWindowChains, CloudTrailExpressionBackend):
    """Spark SQL over raw CloudTrail records (`snaptrail scan --engine spark`, any Spark 4 cluster).

    sigma-cli: `sigma convert -t snaptrail_spark [-O key=value ...] rules/`; format `default`;
    options `filters=true|false` and `config=PATH` (see snaptrail.backends.plugin).
    """

    name: ClassVar[str] = "snaptrail Spark SQL (raw CloudTrail JSON)"
    identifier: ClassVar[str] = "snaptrail_spark"
    target: ClassVar[str] = "spark"
    formats: ClassVar[dict[str, str]] = {
        "default": "Spark SQL over view cloudtrail(raw JSON text, seq, event_id, event_time, ...)"
    }
    default_pipeline = staticmethod(spark_pipeline)

    # ---- token table ----------------------------------------------------------------------------
    # Patterns are LIKE patterns: `%` and `_` wildcards; literal `%`, `_` and `\` escaped with `\`
    # (Spark refuses an escape before any other character, and pySigma escapes no other).
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "%"
    wildcard_single: ClassVar[str] = "_"
    add_escaped: ClassVar[str] = "\\"
    # Case-insensitive equality lowers both sides (the value in convert_condition_field_eq_val_str);
    # a pattern uses ILIKE (Spark lowers both sides). ESCAPE '\\' is the literal of one backslash.
    eq_expression: ClassVar[str] = "lower({field}) = {value}"
    wildcard_match_expression: ClassVar[str] = "{field} ILIKE {value} ESCAPE '\\\\'"
    case_sensitive_eq_expression: ClassVar[str] = "{field} = {value}"
    case_sensitive_match_expression: ClassVar[str] = "{field} LIKE {value} ESCAPE '\\\\'"
    field_in_list_expression: ClassVar[str] = "lower({field}) {op} ({list})"
    or_in_operator: ClassVar[str] = "IN"
    # Java regexes with find() semantics (RLIKE), like Sigma's unanchored search; flags as an inline
    # group (pySigma's re_flag_prefix). Inside the literal, backslash and quote take a backslash.
    re_expression: ClassVar[str] = "{field} RLIKE '{regex}'"
    re_escape: ClassVar[list[str]] = ["'"]
    re_escape_char: ClassVar[str] = "\\"
    re_escape_escape_char: bool = True
    # Numbers and comparisons read the JSON text as a number; a non-number is NULL, not an error.
    compare_op_expression: ClassVar[str] = "try_cast({field} AS DOUBLE) {operator} {value}"
    field_eq_num_expression: ClassVar[str] = "try_cast({field} AS DOUBLE) = {value}"
    # JSON true/false and CloudTrail's string "true"/"false" both read as that text.
    bool_values: ClassVar[dict[bool, str | None]] = {True: "'true'", False: "'false'"}
    bool_expression: ClassVar[str] = "lower({field}) = {value}"
    field_null_expression: ClassVar[str] = "({field} IS NULL)"
    field_exists_expression: ClassVar[str] = "({field} IS NOT NULL)"
    field_not_exists_expression: ClassVar[str] = "not (({field} IS NOT NULL))"
    field_equals_field_expression: ClassVar[str] = "lower({field1}) = lower({field2})"
    # |fieldref|startswith: the field starts with the other field's value (and so on).
    field_equals_field_startswith_expression: ClassVar[str] = "startswith(lower({field1}), lower({field2}))"
    field_equals_field_endswith_expression: ClassVar[str] = "endswith(lower({field1}), lower({field2}))"
    field_equals_field_contains_expression: ClassVar[str] = "contains(lower({field1}), lower({field2}))"
    # Three-valued logic: a test on an absent field is NULL, and `not NULL` would drop the row.
    null_safe_expression: ClassVar[str] = "coalesce({expr}, false)"

    def quote_string(self, s: str) -> str:
        return spark_string(s)

    # ---- paths ----------------------------------------------------------------------------------
    def json_path(self, steps: tuple[Step, ...]) -> str:
        """Spark JSONPath of the steps below a JSON text (array markers are not part of it)."""
        parts = ["$"]
        for step in steps:
            if _DOTTED_KEY.fullmatch(step.name):
                parts.append(f".{step.name}")
            elif "'" not in step.name and "]" not in step.name:
                parts.append(f"['{step.name}']")
            else:
                raise self.limitation(step.name, "Spark's JSONPath cannot name a key holding ' or ]")
        return "".join(parts)

    def _extract(self, source: str, steps: tuple[Step, ...]) -> str:
        if not steps:
            return source
        return f"get_json_object({source}, {spark_string(self.json_path(steps))})"

    def scalar_expression(self, path: CloudTrailPath) -> str:
        if path.sigma_name in COLUMNS:
            return f"`{path.sigma_name}`"
        return self._extract("raw", path.steps)

    def element_values(self, path: CloudTrailPath) -> str:
        """The array of every value the path reaches (element JSON texts, strings unquoted): each
        array step parsed as ARRAY<STRING>, nested ones flattened. A step that holds no array (absent,
        null, an object) reaches nothing, as snaptrail.cloudtrail.registry's values_in has it."""
        segments = path.split_at_arrays()
        first, middle, leaf = segments[0], segments[1:-1], segments[-1]
        values = f"from_json({self._extract('raw', first)}, 'ARRAY<STRING>')"
        for segment in middle:
            inner = f"coalesce(from_json({self._extract('e', segment)}, 'ARRAY<STRING>'), array())"
            values = f"flatten(transform({values}, e -> {inner}))"
        if leaf:
            values = f"transform({values}, e -> {self._extract('e', leaf)})"
        return values

    def any_element(self, path: CloudTrailPath, predicate: Predicate, state: ConversionState) -> str:
        # exists() is NULL when no element matches and one predicate is NULL (a null element): at least
        # one element must match, so NULL is false here (and under `not`).
        return f"coalesce(exists({self.element_values(path)}, {ELEMENT} -> {predicate(ELEMENT)}), false)"

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

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> Any:
        r"""Java's regexes read `$` and `.` by line terminators that RE2, Lucene and the SIEMs do not:
        `(?d)` (UNIX_LINES) makes `\n` the only one, and without the m flag `$` is the end of the text
        (END_OF_TEXT), where Java would also match it before a final line break."""
        text = str(r.regexp)
        if SigmaRegularExpressionFlag.MULTILINE not in r.flags:
            text = end_of_text_anchors(text)
        rewritten = SigmaRegularExpression(text, r.flags)
        return "(?d)" + str(super().convert_value_re(rewritten, state))

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        # Spark SQL has no address functions: the dotted quad as a number in the network's range.
        assert isinstance(cond.value, SigmaCIDRExpression)
        network = cond.value.network
        if not isinstance(network, ipaddress.IPv4Network):
            raise self.limitation(cond.field, "IPv6 CIDR matching: Spark SQL has no address functions")
        expr = self.escape_and_quote_field(cond.field)
        low, high = int(network.network_address), int(network.broadcast_address)
        octets = " + ".join(
            f"try_cast(split_part({expr}, '.', {i + 1}) AS BIGINT) * {256 ** (3 - i)}" for i in range(4)
        )
        # Java's `$` also matches before a final line break; `\z` is the end of the text.
        whole = spark_string(f"^(?:{DOTTED_QUAD})\\z")
        return f"({expr} RLIKE {whole} AND ({octets}) BETWEEN {low} AND {high})"

    def finalize_query_default(
        self, rule: SigmaRule | SigmaCorrelationRule, query: Any, index: int, state: ConversionState
    ) -> Any:
        if isinstance(rule, SigmaCorrelationRule):
            return query  # a chain is a complete statement
        return f"SELECT * FROM {TABLE} WHERE {query}"

    # ---- chains ---------------------------------------------------------------------------------
    # The same statements as the DuckDB target's (snaptrail.backends.duckdb), in Spark's functions:
    # one row per alert, event_time, event_ids (in order), chain_key.
    def _step_events(self, index: int, step: ChainStep, chain: Chain) -> str:
        keys = [self.scalar_expression(self.resolve(field)) for field in step.keys]
        extra = ""
        if chain.value_field is not None:
            extra = f", {self.scalar_expression(self.resolve(chain.value_field))} AS v"
        present = " AND ".join(f"{key} IS NOT NULL" for key in keys)
        return (
            f"s{index} AS (SELECT seq, event_id, event_time AS t, array({', '.join(keys)}) AS k{extra} "
            f"FROM ({step.query}) AS step{index} WHERE {present})"
        )

    def chain_query(self, chain: Chain) -> str:
        steps = [self._step_events(i, step, chain) for i, step in enumerate(chain.steps, start=1)]
        window = f"INTERVAL {chain.window_seconds} SECONDS"
        if chain.kind == "ordered":
            parts = [
                *steps,
                "c1 AS (SELECT k, t AS start_t, t AS end_t, seq AS end_seq, array(event_id) AS ids FROM s1)",
            ]
            for i in range(2, len(chain.steps) + 1):
                # The evidence is the chain with the latest start; among chains starting together, the
                # one whose previous step came last (max_by on both, so the choice is deterministic).
                parts.append(
                    f"c{i} AS (SELECT s.k, max(c.start_t) AS start_t, s.t AS end_t, s.seq AS end_seq, "
                    f"max_by(concat(c.ids, array(s.event_id)), struct(c.start_t, c.end_t, c.end_seq)) AS ids "
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
        measure = (
            "count(*) OVER win" if chain.kind == "count" else "size(array_distinct(collect_list(v) OVER win))"
        )
        return (
            "WITH " + ",\n".join(steps) + f",\nevents AS ({union}),\n"
            f"windows AS (SELECT *, {measure} AS n, collect_list(event_id) OVER win AS ids FROM events "
            f"WINDOW win AS (PARTITION BY k ORDER BY t RANGE BETWEEN {window} PRECEDING AND CURRENT ROW)),\n"
            "crossings AS (SELECT *, lag(n) OVER (PARTITION BY k ORDER BY t, seq) AS prev_n FROM windows)\n"
            f"SELECT t AS event_time, ids AS event_ids, k AS chain_key FROM crossings "
            f"WHERE n >= {chain.threshold} AND coalesce(prev_n, 0) < {chain.threshold} ORDER BY t, seq"
        )
