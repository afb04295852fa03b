"""The Kusto checker itself: it must run Microsoft's parser/binder on our schema, and be able to fail."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from snaptrail.verify import kusto_checker
from snaptrail.verify.kusto_checker import DEFAULT_SCHEMA, KqlDiagnostic, KustoChecker

SNAPSHOT_SHARED_PUBLIC = """AWSCloudTrail
| where EventSource =~ "ec2.amazonaws.com" and EventName =~ "ModifySnapshotAttribute"
| mv-apply __e0 = parse_json(RequestParameters).createVolumePermission.add.items on (
    summarize __a0 = countif(tostring(__e0.group) =~ "all") > 0
  )
| where __a0
| project TimeGenerated, UserIdentityArn, SnapshotId = tostring(parse_json(RequestParameters).snapshotId)"""

VOLUME_FROM_SNAPSHOT = """AWSCloudTrail
| where EventName == "CreateVolume" and isempty(ErrorCode) and ReadOnly == false
| where TimeGenerated > ago(7d)
| extend EbsId = tostring(parse_json(RequestParameters)['aws:ebs:id'])
| where EbsId startswith "snap-"
    or tostring(parse_json(RequestParameters).snapshotId) in~ ("snap-1", "snap-2")
| summarize Count = count() by bin(TimeGenerated, 1h), EbsId"""


@pytest.fixture(scope="module")
def checker() -> Iterator[KustoChecker]:
    with KustoChecker() as kusto:
        yield kusto


def codes(diagnostics: list[KqlDiagnostic]) -> list[str]:
    return [d.code for d in diagnostics]


@pytest.mark.parametrize("query", [SNAPSHOT_SHARED_PUBLIC, VOLUME_FROM_SNAPSHOT])
def test_good_query_binds_without_errors(checker: KustoChecker, query: str) -> None:
    assert checker.errors(query) == []


def test_every_schema_column_is_known(checker: KustoChecker) -> None:
    columns = [c["name"] for c in json.loads(DEFAULT_SCHEMA.read_text())["columns"]]
    assert len(columns) > 40
    assert checker.errors("AWSCloudTrail | project " + ", ".join(f"['{c}']" for c in columns)) == []


def test_unknown_column_is_an_error(checker: KustoChecker) -> None:
    query = 'AWSCloudTrail | where requestParameters =~ "x"'
    [diag] = checker.errors(query)
    assert diag.code == "KS142"
    # Column names are case-sensitive: the CloudTrail spelling is not a Sentinel column.
    assert query[diag.start : diag.start + diag.length] == "requestParameters"


def test_unknown_column_inside_mv_apply_is_an_error(checker: KustoChecker) -> None:
    query = SNAPSHOT_SHARED_PUBLIC.replace("| where __a0", "| where __a1")
    assert codes(checker.errors(query)) == ["KS142"]


def test_unknown_table_is_an_error(checker: KustoChecker) -> None:
    query = 'AWSCloudTrails | where EventName == "x"'
    [diag] = checker.errors(query)
    assert diag.code == "KS204"
    assert (diag.start, diag.length) == (0, len("AWSCloudTrails"))


def test_syntax_error_is_an_error(checker: KustoChecker) -> None:
    assert codes(checker.errors('AWSCloudTrail | where (EventName == "x"')) == ["KS005"]  # Expected: )


def test_missing_expression_is_a_syntax_error(checker: KustoChecker) -> None:
    assert codes(checker.errors("AWSCloudTrail | where EventName ==")) == ["KS006"]  # Missing expression


def test_operator_type_error(checker: KustoChecker) -> None:
    [diag] = checker.errors('AWSCloudTrail | where TimeGenerated > "2024-01-01"')
    assert diag.code == "KS106"
    assert "datetime and string" in diag.message
    assert checker.errors("AWSCloudTrail | where TimeGenerated > datetime(2024-01-01)") == []


def test_where_needs_a_bool(checker: KustoChecker) -> None:
    assert codes(checker.errors("AWSCloudTrail | where EventName")) == ["KS141"]
    assert checker.errors("AWSCloudTrail | where ReadOnly") == []


def test_literal_left_operand_is_reported(checker: KustoChecker) -> None:
    query = "AWSCloudTrail | where 'requestParameters.x' =~ \"y\""
    [diag] = checker.errors(query)
    assert diag.code == "LITERAL_LHS"
    assert diag.severity == "Error"
    assert query[diag.start : diag.start + diag.length] == "'requestParameters.x'"
    assert checker.errors('AWSCloudTrail | where EventName =~ "y"') == []


@pytest.mark.parametrize(
    "predicate",
    [
        '\'x\' in ("a", "b")',
        "'x' !in~ (\"a\")",
        "'x' has_any (\"a\")",
        "'x' has_all (\"a\")",
        "'x' contains \"a\"",
        "('x') startswith \"a\"",
        "1 between (0 .. 2)",
        "'x' == EventName",
    ],
)
def test_literal_left_operand_other_operators(checker: KustoChecker, predicate: str) -> None:
    assert codes(checker.errors(f"AWSCloudTrail | where {predicate}")) == ["LITERAL_LHS"]


@pytest.mark.parametrize(
    "predicate",
    [
        'EventName in ("a", "b")',
        'EventName has_any ("a")',
        'tostring(parse_json(RequestParameters).x) has_all ("a")',
        "TimeGenerated between (ago(1d) .. now())",
        'EventName == "x" and true',  # literal operands of and/or/arithmetic are not comparisons
        "strlen(EventName) > 1 + 2",
    ],
)
def test_column_left_operand_is_not_reported(checker: KustoChecker, predicate: str) -> None:
    assert checker.errors(f"AWSCloudTrail | where {predicate}") == []


def test_warnings_are_kept_but_not_errors(checker: KustoChecker) -> None:
    query = "AWSCloudTrail | join (AWSCloudTrail) on EventName"
    diagnostics = checker.check(query)
    assert [(d.severity, d.code) for d in diagnostics] == [("Warning", "KS508")]  # join without kind=
    assert checker.errors(query) == []


def test_custom_schema_path(tmp_path: Path) -> None:
    schema = tmp_path / "t.json"
    schema.write_text(json.dumps({"table": "T", "columns": [{"name": "A", "type": "long"}]}))
    with KustoChecker(schema) as kusto:
        assert kusto.errors("T | where A > 1") == []
        assert codes(kusto.errors("T | where B > 1")) == ["KS142"]
        assert codes(kusto.errors("AWSCloudTrail | take 1")) == ["KS204"]


def test_bad_schema_raises_with_stderr(tmp_path: Path) -> None:
    schema = tmp_path / "bad.json"
    schema.write_text(json.dumps({"table": "T", "columns": [{"name": "A", "type": "nosuchtype"}]}))
    with KustoChecker(schema) as kusto, pytest.raises(RuntimeError, match="nosuchtype"):
        kusto.check("T")


def test_one_process_serves_many_queries_quickly(checker: KustoChecker) -> None:
    checker.check(SNAPSHOT_SHARED_PUBLIC)  # warm up the JIT
    runs = 50
    started = time.perf_counter()
    for _ in range(runs):
        assert checker.errors(SNAPSHOT_SHARED_PUBLIC) == []
    per_query = (time.perf_counter() - started) / runs
    assert per_query < 0.5, f"{per_query * 1000:.1f} ms per query"


def test_missing_npm_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(kusto_checker.ENV_KUSTO_DIR, str(tmp_path))
    with pytest.raises(RuntimeError, match=re.escape(f"npm ci --prefix {tmp_path.resolve()}")):
        KustoChecker()


def test_missing_node_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    where = re.escape(f"npm ci --prefix {kusto_checker.kusto_dir()}")
    with pytest.raises(RuntimeError, match=rf"`node` not found.*{where}"):
        KustoChecker()


def test_dead_process_raises() -> None:
    with KustoChecker() as kusto:
        assert kusto.errors("AWSCloudTrail") == []
        proc = kusto._proc
        assert proc is not None
        proc.kill()
        proc.wait()
        with pytest.raises(RuntimeError, match="Kusto checker died"):
            kusto.check("AWSCloudTrail")
