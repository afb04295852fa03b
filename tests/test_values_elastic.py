"""Every Sigma value on the three Elastic targets: each defect class of issue #12 (escaping) as a rule
value whose query the real parser accepts and the real engine runs to exactly the records the Sigma
specification selects, or a TargetLimitation where the language truly cannot say it.

Engines: Lucene (MemoryIndex, query_string's parser) runs everything it is given; Elastic's eql parser
checks every EQL query, and the eql Python engine runs only the case-insensitive `:` forms (its `==`,
`like` and `regex` are case-insensitive prefix matches, unlike Elasticsearch: see test_semantics);
ES|QL is checked by Elastic's analyzer (no local engine exists). Expected records were worked out by
hand from the Sigma specification: case-insensitive by default, `|cased`, `*`/`?` wildcards with `\\`
escapes, `|re` searching with Python/PCRE syntax (`.` is not a newline without `|s`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from sigma.collection import SigmaCollection

from snaptrail.backends import TARGETS
from snaptrail.backends.errors import TargetLimitation
from snaptrail.corpus import config_pipeline
from snaptrail.verify.harness import HARNESSES, lucene_batch

ELASTIC = ("elastic-lucene", "elastic-eql", "elastic-esql")
ARRAY = "requestParameters.createVolumePermission.add.items.userId"


@dataclass(frozen=True)
class Case:
    name: str
    detection: str  # the selection's body, one key per line
    texts: tuple[str, ...]  # record i carries texts[i] in every string field used below
    expected: frozenset[int]  # indices of the matching records
    # targets that must refuse, with a word of the reason their limitation must name
    refused: dict[str, str] = field(default_factory=dict)
    eql_runs: bool = False  # the EQL query is a case-insensitive `:` test the eql engine runs faithfully
    duckdb_runs: bool = True  # False where the reference engine (RE2) cannot run the value either


def yaml_str(text: str) -> str:
    """A YAML double-quoted scalar with every character outside printable ASCII escaped."""
    body = "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\U{ord(c):08x}" for c in text)
    return f'"{body}"'


CONTROLS = chr(1) + chr(31) + chr(127) + chr(0x85) + chr(0x2028) + "\\\\n"  # and an escaped backslash, n
LONG = "KnnHqGuyI80dkgdljSb2E2mNubsNncYdw3FyWdfA5RShg5ofbz2XZYWNzFafkEkFCGV3FubrcJGppb4MLUUhNgI9BV" * 4
CASES = [
    Case(
        "newline_plain",
        f"awsRegion: {yaml_str(chr(10))}",
        ("\n", "n", "\\\n", "x\n"),
        frozenset({0}),
        eql_runs=True,
    ),
    Case(
        "newline_cased_term",
        f"userAgent|cased: {yaml_str(chr(10) + '3')}",
        ("\n3", "3", "x\n3", "\n3x"),
        frozenset({0}),
    ),
    Case(
        "tab_cr_and_reserved_in_a_list",
        f"errorMessage:\n      - {yaml_str('3~' + chr(9))}\n      - {yaml_str(chr(13) + '-!')}",
        ("3~\t", "3~", "\r-!", "-!", "3~\tx"),
        frozenset({0, 2}),
    ),
    Case(
        "control_characters_and_escapes_contains",
        f"errorMessage|contains: {yaml_str(CONTROLS)}",
        ("a\x01\x1f\x7f\x85\u2028\\nb", "\x01\x1f\x7f\x85\u2028\n", "\x01\x1f\x7f\x85\u2028\\N"),
        frozenset({0, 2}),
    ),
    Case(
        "quote_in_array_contains",
        f"{ARRAY}|contains: '\"'",
        ('a"b', "ab", '"'),
        frozenset({0, 2}),
        eql_runs=True,  # `:` over the ingest pipeline's tab-delimited keyword
    ),
    Case(
        "tab_in_array_contains",
        f"{ARRAY}|contains: {yaml_str('a' + chr(9) + 'b')}",
        ("a\tb", "ab"),
        frozenset({0}),
        refused={"elastic-esql": "tab", "elastic-eql": "tab"},
    ),
    Case(
        "reserved_words_cased",
        "userAgent|cased:\n      - AND\n      - OR\n      - NOT\n      - TO",
        ("AND", "and", "TO", "NOT x"),
        frozenset({0, 2}),
    ),
    Case(
        "literal_wildcards_and_backslash",
        "awsRegion: 'a\\*b\\?c\\\\'",
        ("a*b?c\\", "aXbYc\\", "A*B?C\\", "a*b?c"),
        frozenset({0, 2}),
    ),
    Case(
        "literal_star_contains_cased",
        "userAgent|contains|cased: 'x\\*Y'",
        ("ax*Yb", "axZYb", "aX*yb"),
        frozenset({0}),
    ),
    Case(
        "wildcards_cased",
        "userAgent|cased: 'Ab*c?'",
        ("Abzzcd", "abzzcd", "Abc", "Abcd"),
        frozenset({0, 3}),
    ),
    Case(
        "regex_double_quote",
        "userAgent|re: '\"\"'",
        ('a""b', 'a"b', "ab"),
        frozenset({0}),
    ),
    Case(
        "regex_lucene_reserved_literals",
        "userAgent|re: '<a>#@&~\\/'",
        ("x<a>#@&~/y", "<a>#@&~", "a"),
        frozenset({0}),
    ),
    Case(
        "regex_dot_is_not_a_newline",
        "userAgent|re: '^a.b$'",
        ("axb", "a\nb", "ab"),
        frozenset({0}),
    ),
    Case(
        "regex_dot_with_s_flag",
        "userAgent|re|s: '^a.b$'",
        ("axb", "a\nb", "ab"),
        frozenset({0, 1}),
    ),
    Case(
        "regex_classes_and_quantifiers",
        "userAgent|re: '^[\\]\\-^]{2}\\d+(x|)$'",
        ("]-12", "^]3x", "]a1", "--"),
        frozenset({0, 1}),
    ),
    Case(
        "regex_without_lucene_equivalent",
        "userAgent|re: 'a(?=b)'",
        ("ab",),
        frozenset({0}),
        refused={"elastic-lucene": "lookaround", "elastic-eql": "lookaround", "elastic-esql": "lookaround"},
        duckdb_runs=False,  # RE2 has no lookarounds either
    ),
    Case(
        "unicode_combining_and_astral",
        f"userAgent|contains: {yaml_str('e' + chr(0x301) + chr(0x1F600))}",
        ("xE\u0301\U0001f600y", "x\u00e9\U0001f600y", "e\u0301"),
        frozenset({0}),
    ),
    Case(
        "long_mixed_case_contains",
        f"userAgent|contains: {LONG[:200]}",
        (f"x{LONG[:200].lower()}y", LONG[:199]),
        frozenset({0}),
    ),
    Case(
        "contains_over_the_regexp_length_limit",
        f"userAgent|contains: {LONG[:300]}",
        (LONG[:300],),
        frozenset({0}),
        refused={"elastic-lucene": "index.max_regex_length"},
    ),
    Case(
        "wildcards_over_the_automaton_limit",
        "userAgent|contains: 'a????????????b'",
        ("a123456789012b",),
        frozenset({0}),
        refused=dict.fromkeys(ELASTIC, "10000 states"),
    ),
]


def record(index: int, text: str) -> dict[str, Any]:
    return {
        "eventVersion": "1.11",
        "eventTime": "2026-03-02T10:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "ModifySnapshotAttribute",
        "eventID": f"r{index}",
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333"},
        "awsRegion": text,
        "userAgent": text,
        "errorMessage": text,
        "requestParameters": {
            "createVolumePermission": {"add": {"items": [{"userId": "other"}, {"userId": text}]}}
        },
    }


def records(case: Case) -> list[dict[str, Any]]:
    return [record(i, text) for i, text in enumerate(case.texts)]


def compile_case(target: str, case: Case) -> str:
    rule = (
        f"title: values {case.name}\nid: 00000000-0000-4000-8000-{CASES.index(case):012d}\nstatus: test\n"
        "logsource:\n  product: aws\n  service: cloudtrail\n"
        f"detection:\n  sel:\n    {case.detection}\n  condition: sel\nlevel: low\n"
    )
    spec = TARGETS[target]
    backend = spec.backend(processing_pipeline=spec.pipeline() + config_pipeline(None))
    return str(backend.convert(SigmaCollection.from_yaml(rule))[0])


def expected_ids(case: Case) -> set[str]:
    return {f"r{i}" for i in case.expected}


@cache
def lucene_results() -> dict[str, frozenset[str]]:
    """Every Lucene query of the cases, run in one JVM per record set."""
    out: dict[str, frozenset[str]] = {}
    for case in CASES:
        if "elastic-lucene" not in case.refused:
            out.update(lucene_batch({case.name: compile_case("elastic-lucene", case)}, records(case)))
    return out


def _params(target: str) -> list[Any]:
    return [pytest.param(case, id=case.name) for case in CASES if target not in case.refused]


def _refusals() -> list[Any]:
    return [
        pytest.param(target, case, why, id=f"{target}-{case.name}")
        for case in CASES
        for target, why in case.refused.items()
    ]


@pytest.mark.parametrize(("target", "case", "why"), _refusals())
def test_refused_with_a_reason(target: str, case: Case, why: str) -> None:
    with pytest.raises(TargetLimitation) as raised:
        compile_case(target, case)
    message = str(raised.value)
    assert why in message and f"values {case.name}" in message and target in message


@pytest.mark.parametrize("case", _params("elastic-lucene"))
def test_lucene_parses_and_matches(case: Case) -> None:
    query = compile_case("elastic-lucene", case)
    assert HARNESSES["elastic-lucene"].parse(query) == [], query  # type: ignore[misc]
    assert set(lucene_results()[case.name]) == expected_ids(case), query


@pytest.mark.parametrize("case", _params("elastic-eql"))
def test_eql_parses(case: Case) -> None:
    query = compile_case("elastic-eql", case)
    assert HARNESSES["elastic-eql"].parse(query) == [], query  # type: ignore[misc]
    if case.eql_runs:
        assert HARNESSES["elastic-eql"].execute(query, records(case)) == expected_ids(case), query  # type: ignore[misc]


@pytest.mark.parametrize("case", _params("elastic-esql"))
def test_esql_parses(case: Case) -> None:
    query = compile_case("elastic-esql", case)
    assert HARNESSES["elastic-esql"].parse(query) == [], query  # type: ignore[misc]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES if c.duckdb_runs])
def test_expectations_agree_with_duckdb(case: Case) -> None:
    """The hand-worked expectations are the reference engine's too (the records as DuckDB reads them)."""
    query = compile_case("duckdb", case)
    assert HARNESSES["duckdb"].execute(query, records(case)) == expected_ids(case), query  # type: ignore[misc]
