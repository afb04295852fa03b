"""The Lucene checker itself: it must run real Lucene, report syntax errors, and be able to fail."""

from __future__ import annotations

from typing import Any

import pytest

from snaptrail.verify.lucene_checker import LuceneResult, flatten_document, run_lucene

ROOT_ARN = "arn:aws:iam::1:root"
ITEMS = "aws.cloudtrail.flattened.request_parameters.createVolumePermission.add.items"

DOCS: dict[str, dict[str, Any]] = {
    "snapshot": {
        "event": {"action": "ModifySnapshotAttribute", "outcome": "success"},
        "user": {"name": "alice"},
        "user_agent": {"original": "aws-cli/2.0 Python"},
        "aws": {
            "cloudtrail": {
                "user_identity": {"arn": ROOT_ARN},
                "flattened": {
                    "request_parameters": {
                        "snapshotId": "snap-1",
                        "createVolumePermission": {"add": {"items": [{"group": "all"}, {"userId": "2"}]}},
                    }
                },
            }
        },
        "source": {"port": 22},
        "cloud": {"account": {"id": "111"}},
        "flag": True,
    },
    "volume": {
        "event": {"action": "CREATE_VOLUME", "outcome": "failure"},
        "user": {"name": "Alice"},
        "user_agent": {"original": "aws-cli/2.0"},
        "aws": {"cloudtrail": {"user_identity": {"arn": "arn:aws:iam::1:user/bob"}}},
        "tags": ["a", "b"],
    },
    "empty": {},
}


def run_one(query: str, docs: dict[str, dict[str, Any]] | None = None) -> LuceneResult:
    return run_lucene({"q": query}, DOCS if docs is None else docs)["q"]


def matches(query: str) -> set[str]:
    result = run_one(query)
    assert result.error is None, f"{query!r} did not parse: {result.error}"
    return set(result.matches)


@pytest.fixture(scope="module")
def batch() -> dict[str, LuceneResult]:
    """Most cases in one JVM run, the way the checker is meant to be used."""
    return run_lucene(dict(CASES), DOCS)


CASES = {
    "term": 'event.action:"ModifySnapshotAttribute"',
    "term_bare": "event.action:ModifySnapshotAttribute",
    "case_lower": "event.action:modifysnapshotattribute",
    "case_user": "user.name:alice",
    "escaped_arn": r"aws.cloudtrail.user_identity.arn:arn\:aws\:iam\:\:1\:root",
    "quoted_arn": 'aws.cloudtrail.user_identity.arn:"arn:aws:iam::1:root"',
    "array_objects": f"{ITEMS}.group:all",
    "array_objects_2": f"{ITEMS}.userId:2",
    "array_values": "tags:b",
    "exists_leaf": "_exists_:aws.cloudtrail.flattened.request_parameters.snapshotId",
    "exists_object": "_exists_:aws.cloudtrail.flattened.request_parameters",
    "exists_partial_segment": "_exists_:aws.cloudtrail.flat",
    "not_exists": "NOT _exists_:aws.cloudtrail.flattened.request_parameters",
    "not_exists_nested": "event.outcome:success AND (NOT _exists_:tags)",
    "minus_only": "-user.name:alice",
    "wildcard_leading": "user_agent.original:*Python",
    "wildcard_both": "aws.cloudtrail.user_identity.arn:*\\:user\\/*",
    "regexp": "event.action:/CREATE_.*/",
    "regexp_caret": "event.action:/^CREATE_.*/",
    "regexp_partial": "event.action:/CREATE/",
    "phrase": 'user_agent.original:"aws-cli/2.0 Python"',
    "phrase_prefix_only": 'user_agent.original:"aws-cli/2.0"',
    "number": "source.port:22",
    "boolean": "flag:true",
    "unfielded": "alice",
    "or_default": "user.name:alice user.name:Alice",
    "unbalanced": "(event.action:CREATE_VOLUME OR user.name:alice",
    "unescaped_colon": "aws.cloudtrail.user_identity.arn:arn:aws:iam::1:root",
}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("term", {"snapshot"}),
        ("term_bare", {"snapshot"}),
        ("case_lower", set()),
        ("case_user", {"snapshot"}),
        ("escaped_arn", {"snapshot"}),
        ("quoted_arn", {"snapshot"}),
        ("array_objects", {"snapshot"}),
        ("array_objects_2", {"snapshot"}),
        ("array_values", {"volume"}),
        ("exists_leaf", {"snapshot"}),
        ("exists_object", {"snapshot"}),
        ("exists_partial_segment", set()),
        ("not_exists", {"volume", "empty"}),
        ("not_exists_nested", {"snapshot"}),
        ("minus_only", {"volume", "empty"}),
        ("wildcard_leading", {"snapshot"}),
        ("wildcard_both", {"volume"}),
        ("regexp", {"volume"}),
        ("regexp_caret", set()),
        ("regexp_partial", set()),
        ("phrase", {"snapshot"}),
        ("phrase_prefix_only", {"volume"}),
        ("number", {"snapshot"}),
        ("boolean", {"snapshot"}),
        ("unfielded", {"snapshot"}),
        ("or_default", {"snapshot", "volume"}),
    ],
)
def test_matches(batch: dict[str, LuceneResult], case: str, expected: set[str]) -> None:
    result = batch[case]
    assert result.query_id == case
    assert result.error is None, result.error
    assert set(result.matches) == expected


def test_every_query_gets_a_result(batch: dict[str, LuceneResult]) -> None:
    assert set(batch) == set(CASES)


@pytest.mark.parametrize("case", ["unbalanced", "unescaped_colon"])
def test_syntax_errors_are_reported(batch: dict[str, LuceneResult], case: str) -> None:
    result = batch[case]
    assert result.error is not None
    assert result.error.startswith("Cannot parse"), result.error
    assert result.matches == frozenset()


def test_error_message_is_lucenes_and_multiline() -> None:
    error = run_one("(a:b").error
    assert error is not None
    assert 'Encountered "<EOF>"' in error
    assert "\n" in error  # escapes round-trip


def test_regexp_caret_is_a_literal_not_an_anchor() -> None:
    # Lucene's RegExp has no anchors; `^` is an ordinary (reserved) character, so this matches only a value
    # that really starts with '^'.
    docs = {"caret": {"event": {"action": "^CREATE_X"}}, "plain": {"event": {"action": "CREATE_X"}}}
    result = run_one("event.action:/^CREATE_.*/", docs)
    assert result.error is None, result.error
    assert result.matches == {"caret"}


def test_invalid_regexp_is_an_error_not_a_miss() -> None:
    result = run_one("event.action:/CREATE_[/")
    assert result.error is not None
    assert result.matches == frozenset()


def test_the_checker_can_fail() -> None:
    # The same query with the wrong value finds nothing, so a passing match is not vacuous.
    assert matches('event.action:"ModifySnapshotAttribute"') == {"snapshot"}
    assert matches('event.action:"ModifySnapshotAttributes"') == set()
    assert matches("event.action:ModifySnapshot") == set()  # no substring matching on keywords


def test_values_with_special_characters_round_trip() -> None:
    value = "a\tb\\c\nd\re \u2028 f"
    docs = {"d\t1": {"msg": value}, "d2": {"msg": "other"}}
    # `*` matches any character including tab and newline.
    result = run_lucene({"q\n1": "msg:a*b\\\\c*", "q2": "msg:other"}, docs)
    assert result["q\n1"].matches == {"d\t1"}
    assert result["q2"].matches == {"d2"}


def test_empty_query_matches_nothing() -> None:
    assert run_one("   ").matches == frozenset()


def test_flatten_document() -> None:
    doc = {
        "a": {"items": [{"b": 1}, {"b": 2, "c": None}, {"d": []}], "flag": False, "empty": {}},
        "tags": ["x", ["y"], None],
        "f": 1.5,
        "none": None,
        "s": "",
        "dotted.key": "v",
    }
    assert flatten_document(doc) == {
        "a.items.b": ["1", "2"],
        "a.flag": ["false"],
        "tags": ["x", "y"],
        "f": ["1.5"],
        "s": [""],
        "dotted.key": ["v"],
    }


def test_flatten_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        flatten_document({"a": object()})
    with pytest.raises(ValueError):
        flatten_document({"a": float("nan")})


def test_reserved_field_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="reserved"):
        run_lucene({"q": "x"}, {"d": {"_exists_": "x"}})
