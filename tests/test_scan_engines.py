"""`snaptrail scan --engine spark` raises the alerts the embedded engine raises, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snaptrail.cli import main

from fixture_cases import RULES, all_cases, chain_cases_for

MOUNT_CHAIN = "ef6c4a72-dff7-455b-a8b2-a95cecb4219e"


def _alerts(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, set[tuple[str, tuple[str, ...]]], str]:
    code = main(["scan", *argv, "--rules", str(RULES), "--format", "jsonl"])
    captured = capsys.readouterr()
    alerts = {(a["rule_id"], tuple(a["event_ids"])) for a in map(json.loads, captured.out.splitlines())}
    return code, alerts, captured.err


def test_spark_and_duckdb_agree_on_a_trail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyspark", reason="pyspark is in the test extra; snaptrail[spark] for users")
    chain = next(c for c in chain_cases_for(MOUNT_CHAIN) if c.expect)
    records = chain.records + [c.record for c in all_cases()[:40]]
    (tmp_path / "trail.json").write_text(json.dumps({"Records": records}), encoding="utf-8")
    code, on_duckdb, _ = _alerts(capsys, str(tmp_path))
    assert code == 0 and (MOUNT_CHAIN, chain.expect[0]) in on_duckdb
    code, on_spark, err = _alerts(capsys, str(tmp_path), "--engine", "spark")
    assert code == 0, err
    assert on_spark == on_duckdb
    assert "on Spark (local[2])" in err


def test_a_uri_needs_the_spark_engine(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", "s3a://bucket/AWSLogs/", "--rules", str(RULES)])
    err = capsys.readouterr().err
    assert code == 2 and "s3a://bucket/AWSLogs/: a URI needs --engine spark" in err and "Traceback" not in err
