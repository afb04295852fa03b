"""Adversarial Sigma values on Sentinel (KQL) and Splunk (SPL): each defect class of issue #12 found by a
seeded generator (control characters, quotes and backslashes, wildcards beside newlines, `not` over
`|contains|all`, `|cased` OR-ed with `|re`), kept as a regression case.

Sentinel: Microsoft's Kusto.Language binds every query and duckdb-kql runs the scalar ones; the expected
matches are worked out from the Sigma specification (wildcards match any character, newline included;
`\\?` is a literal `?`). Splunk: no SPL parser or engine runs here, so its cases check the refusals and
the structure only (tests/checkers/spl_structure.py), never that Splunk accepts a query.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.collection import SigmaCollection

from snaptrail.backends.sentinel import kql_string
from snaptrail.backends.splunk import splunk_name
from snaptrail.cloudtrail.registry import registry
from snaptrail.corpus import Conversion, Corpus
from snaptrail.verify.harness import HARNESSES, ExecutorLimit

from checkers.spl_structure import check_spl

ARRAY_FIELD = "requestParameters.createVolumePermission.add.items.userId"
CONTROL = ["\n", "\r", "\t", "\x00", "\x01", "\x1f", "\x7f", "\u0085", "\u2028", "\u2029"]


def compile_rule(tmp_path: Path, target: str, detection: dict[str, Any]) -> tuple[Conversion, str]:
    """The rule (eventName ModifySnapshotAttribute AND the detection) on one target, and its YAML."""
    text = yaml.safe_dump(
        {
            "title": "adversarial value",
            "id": "00000000-0000-4000-8000-00000000a012",
            "status": "test",
            "logsource": {"product": "aws", "service": "cloudtrail"},
            "detection": {"base": {"eventName": "ModifySnapshotAttribute"}, **detection},
            "level": "low",
        },
        sort_keys=False,
    )
    folder = tmp_path / target
    folder.mkdir(exist_ok=True)
    (folder / "rule.yml").write_text(text, encoding="utf-8")
    (conversion,) = Corpus.load([folder]).compiled(target).values()
    return conversion, text


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "eventTime": "2026-03-02T10:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "ModifySnapshotAttribute",
        "eventID": event_id,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
        "requestParameters": {"snapshotId": "snap-0"},
    }
    record.update(fields)
    return record


def kql(tmp_path: Path, detection: dict[str, Any]) -> str:
    conversion, _ = compile_rule(tmp_path, "sentinel", detection)
    assert conversion.ok, conversion.error
    query = str(conversion.query)
    parse = HARNESSES["sentinel"].parse
    assert parse is not None
    assert parse(query) == [], query
    return query


def kql_matches(query: str, records: list[dict[str, Any]]) -> set[str]:
    execute = HARNESSES["sentinel"].execute
    assert execute is not None
    return execute(query, [copy.deepcopy(r) for r in records])


# ---- Sentinel: string literals -----------------------------------------------------------------------
@pytest.mark.parametrize("char", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
def test_kql_string_literal_decodes_to_the_text_in_kusto_language(char: str) -> None:
    # The binder resolves a bracketed column name from the literal's decoded value, so its message
    # names exactly what Kusto.Language's lexer made of our escapes (and the unescaped name binds).
    parse = HARNESSES["sentinel"].parse
    assert parse is not None
    assert parse(f"AWSCloudTrail\n| where [{kql_string('AWSRegion')}] == 'x'") == []
    literal = kql_string(f'AWS"Re\\gion{char}')
    assert char not in literal  # no raw control character reaches the query
    errors = parse(f"AWSCloudTrail\n| where [{literal}] == 'x'")
    unknown = "does not refer to any known column, table, variable or function."
    assert errors == [f"KS142: The name 'AWS\"Re\\gion{char}' {unknown}"]


@pytest.mark.parametrize("char", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
def test_control_character_in_every_modifier_binds(tmp_path: Path, char: str) -> None:
    value = f"a{char}b"
    for key in ("awsRegion", "awsRegion|contains", "awsRegion|cased", "awsRegion|endswith|cased",
                "requestParameters.snapshotId|startswith", f"{ARRAY_FIELD}|contains"):  # fmt: skip
        query = kql(tmp_path, {"sel": {key: value}, "condition": "base and sel"})
        assert value not in query  # the character is escaped, never raw inside the literal
    kql(tmp_path, {"sel": {"awsRegion|re": f"^a{char}"}, "condition": "base and sel"})
    kql(tmp_path, {"sel": {"awsRegion": [value, "x*y"]}, "condition": "base and not sel"})


@pytest.mark.parametrize("char", ["\n", "\r", "\t"])
def test_newline_tab_and_return_match_exactly(tmp_path: Path, char: str) -> None:
    records = [
        event("hit", awsRegion=char),
        event("upper", awsRegion=f"X{char}Y"),
        event("space", awsRegion=" "),
        event("two", awsRegion=char * 2),
        event("none"),
    ]
    assert kql_matches(kql(tmp_path, {"sel": {"awsRegion": char}, "condition": "base and sel"}), records) == {
        "hit"
    }
    query = kql(tmp_path, {"sel": {"awsRegion|contains": f"x{char}y"}, "condition": "base and sel"})
    assert kql_matches(query, records) == {"upper"}
    query = kql(tmp_path, {"sel": {"awsRegion|re": f"^{char}+$"}, "condition": "base and sel"})
    assert kql_matches(query, records) == {"hit", "two"}


def test_quotes_and_backslashes_match_exactly(tmp_path: Path) -> None:
    value = 'say "hi" \\ \\n it\'s'
    records = [
        event("hit", userAgent=value),
        event("near", userAgent=value.replace("\\", "/")),
        event("none"),
    ]
    for key in ("userAgent", "userAgent|cased", "userAgent|contains", "userAgent|startswith|cased"):
        assert kql_matches(kql(tmp_path, {"sel": {key: value}, "condition": "base and sel"}), records) == {
            "hit"
        }
    # |re: the pattern reaches RE2 as written (`\\\\` is one backslash, `\\d` a digit class).
    query = kql(tmp_path, {"sel": {"userAgent|re": '"hi" \\\\ \\\\n'}, "condition": "base and sel"})
    assert kql_matches(query, records) == {"hit"}
    query = kql(tmp_path, {"sel": {"userAgent|re": "^\\d"}, "condition": "base and sel"})
    assert kql_matches(query, [event("digit", userAgent="7x"), *records]) == {"digit"}


# ---- Sentinel: wildcards ---------------------------------------------------------------------------------
def test_wildcards_match_a_newline(tmp_path: Path) -> None:
    # Sigma's `*` and `?` match any character; RE2's `.` matches a newline only with the s flag.
    records = [event("nl", userAgent="a\nb"), event("x", userAgent="axb"), event("short", userAgent="ab")]
    query = kql(tmp_path, {"sel": {"userAgent": "a?b"}, "condition": "base and sel"})
    assert kql_matches(query, records) == {"nl", "x"}
    query = kql(tmp_path, {"sel": {"userAgent|cased": "a*b"}, "condition": "base and sel"})
    assert kql_matches(query, records) == {"nl", "x", "short"}


def test_unescaped_question_mark_is_any_character_and_escaped_one_is_literal(tmp_path: Path) -> None:
    # `|contains: '?'` is "at least one character" (Sigma's single-character wildcard): the regex
    # `(?is)^.*..*$` is right; `|contains: '\\?'` is a literal `?`, compiled without any regex.
    records = [
        event("question", userAgent="what?"),
        event("newline", userAgent="\n"),
        event("plain", userAgent="aws-cli"),
        event("empty", userAgent=""),
    ]
    wildcard = kql(tmp_path, {"sel": {"userAgent|contains": "?"}, "condition": "base and sel"})
    assert kql_matches(wildcard, records) == {"question", "newline", "plain"}
    literal = kql(tmp_path, {"sel": {"userAgent|contains": "\\?"}, "condition": "base and sel"})
    assert "matches regex" not in literal and 'UserAgent contains "?"' in literal
    assert kql_matches(literal, records) == {"question"}
    # DuckDB, the reference engine, agrees on both.
    for detection, expected in (({"userAgent|contains": "?"}, {"question", "newline", "plain"}),
                                ({"userAgent|contains": "\\?"}, {"question"})):  # fmt: skip
        conversion, _ = compile_rule(tmp_path, "duckdb", {"sel": detection, "condition": "base and sel"})
        execute = HARNESSES["duckdb"].execute
        assert execute is not None
        assert execute(str(conversion.query), [copy.deepcopy(r) for r in records]) == expected


# ---- Sentinel: not over |contains|all --------------------------------------------------------------------
def test_not_over_contains_all_is_a_complete_expression(tmp_path: Path) -> None:
    values = ["--vol-%42", "%", "42"]
    records = [
        event("all", userAgent="x--vol-%42y"),
        event("some", userAgent="--vol-42"),
        event("none"),
    ]
    query = kql(tmp_path, {"sel": {"userAgent|contains|all": values}, "condition": "base and not sel"})
    assert "not()" not in query.replace(" ", "")
    assert kql_matches(query, records) == {"some", "none"}
    # On an array path the conjuncts are mv-apply flags; Kusto.Language binds it, duckdb-kql cannot run it.
    array = kql(tmp_path, {"sel": {f"{ARRAY_FIELD}|contains|all": values}, "condition": "base and not sel"})
    assert "where not(__any0 > 0 and __any1 > 0 and __any2 > 0)" in array
    with pytest.raises(ExecutorLimit):
        kql_matches(array, records)


def test_unicode_and_long_values_bind_and_match(tmp_path: Path) -> None:
    combining, astral = "e\u0301", "\U0001f600\U0001d518"
    long_value = ("aB|*\\?[]" * 40)[:300]
    records = [
        event("c", userAgent=f"x{combining}y{astral}"),
        event("long", userAgent=long_value.replace("\\?", "?")),
    ]
    query = kql(
        tmp_path, {"sel": {"userAgent|contains": f"{combining}y{astral}"}, "condition": "base and sel"}
    )
    assert kql_matches(query, records) == {"c"}
    query = kql(tmp_path, {"sel": {"userAgent|cased": long_value}, "condition": "base and sel"})
    assert kql_matches(query, records) == {"long"}


# ---- Splunk ----------------------------------------------------------------------------------------------
def spl(tmp_path: Path, detection: dict[str, Any]) -> str:
    conversion, text = compile_rule(tmp_path, "splunk", detection)
    assert conversion.ok, conversion.error
    query = str(conversion.query)
    assert check_spl(query, SigmaCollection.from_yaml(text).rules[0]) == [], query
    return query


def spl_refusal(tmp_path: Path, detection: dict[str, Any], field: str) -> str:
    conversion, _ = compile_rule(tmp_path, "splunk", detection)
    assert conversion.limitation, conversion.query
    message = str(conversion.error)
    assert (
        "rule 'adversarial value'" in message and f"field '{field}'" in message and "target splunk" in message
    )
    assert "\n" not in message
    return message


def test_splunk_cased_or_regex_is_refused_not_split(tmp_path: Path) -> None:
    # Upstream moved CASE("abc")'s closing part behind `| rex` / `| eval` stages: a broken search.
    detection = {
        "sel": {"userAgent|cased": "abc"},
        "r": {"userAgent|re": "a.c"},
        "condition": "base and (sel or r)",
    }
    assert "|re" in spl_refusal(tmp_path, detection, "userAgent")
    detection = {"sel": {"userAgent": "abc"}, "r": {"awsRegion|re": "x"}, "condition": "sel or r"}
    spl_refusal(tmp_path, detection, "awsRegion")
    # NOT over several conditions is an OR of their negations: refused too.
    spl_refusal(tmp_path, {"sel": {"userAgent|re": "x", "awsRegion": "y"}, "condition": "base and not sel"},
                "userAgent")  # fmt: skip


def test_splunk_regex_list_is_one_alternation(tmp_path: Path) -> None:
    # A |re list on one field (the allowlist filters' shape): one `| regex`, negated under NOT; upstream
    # took the rex/eval path and crashed on the `{}` of an array field.
    query = spl(
        tmp_path, {"sel": {f"{ARRAY_FIELD}|re": ["^1\\d{2}$", 'a"b']}, "condition": "base and not sel"}
    )
    assert query.endswith(
        '\n| regex requestParameters.createVolumePermission.add.items{}.userId!="(?:^1\\\\d{2}$)|(?:a\\"b)"'
    )
    query = spl(tmp_path, {"sel": {"userAgent|re|i": ["x", "y"]}, "condition": "base and sel"})
    assert query.endswith('\n| regex userAgent="(?i)(?:x)|(?:y)"')
    # Different flags cannot share one pattern.
    mixed = {"sel": {"userAgent|re|i": "x"}, "t": {"userAgent|re": "y"}, "condition": "sel or t"}
    spl_refusal(tmp_path, mixed, "userAgent")


@pytest.mark.parametrize("char", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
def test_splunk_refuses_control_characters(tmp_path: Path, char: str) -> None:
    for key in (
        "awsRegion",
        "awsRegion|contains",
        "awsRegion|cased",
        f"{ARRAY_FIELD}|endswith",
        "awsRegion|re",
    ):
        field = splunk_name(registry().resolve(key.split("|")[0]))  # the pipeline has mapped it
        message = spl_refusal(tmp_path, {"sel": {key: f"a{char}b"}, "condition": "base and sel"}, field)
        assert f"U+{ord(char):04X}" in message


def test_splunk_refuses_a_literal_asterisk(tmp_path: Path) -> None:
    # Splunk: "The backslash can't be used to escape the asterisk in search strings".
    for key in ("userAgent", "userAgent|contains", "userAgent|cased"):
        spl_refusal(tmp_path, {"sel": {key: "a\\*b"}, "condition": "base and sel"}, "userAgent")
    spl_refusal(tmp_path, {"sel": {"userAgent": ["x", "a\\*b"]}, "condition": "base and sel"}, "userAgent")


def test_splunk_quotes_backslashes_and_reserved_words_stay_inside_quotes(tmp_path: Path) -> None:
    value = 'a "b" \\ c | d ` OR NOT [e] = <f> AND'
    query = spl(tmp_path, {"sel": {"userAgent|contains": value}, "condition": "base and sel"})
    assert 'userAgent="*a \\"b\\" \\\\ c | d ` OR NOT [e] = <f> AND*"' in query
    query = spl(tmp_path, {"sel": {"userAgent|cased": value}, "condition": "base and not sel"})
    assert 'NOT userAgent=CASE("a \\"b\\" \\\\ c | d ` OR NOT [e] = <f> AND")' in query
    query = spl(tmp_path, {"sel": {f"{ARRAY_FIELD}": [value, "x"]}, "condition": "base and sel"})
    assert '{}.userId IN ("a \\"b\\" \\\\ c | d ` OR NOT [e] = <f> AND", "x")' in query
