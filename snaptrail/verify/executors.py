"""Running compiled queries on the two third-party executors the tests use: duckdb-kql for KQL over
Sentinel-shaped rows, and Elastic's eql Python engine over ECS documents. One place, so every test
loads rows and events the same way."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from snaptrail.backends.sentinel import sentinel_table
from snaptrail.verify.storage import to_ecs_document, to_sentinel_row


class ExecutorLimit(Exception):
    """The engine available here cannot run a query the SIEM itself can (e.g. duckdb-kql has no
    mv-apply). Tests compare these against the pinned set in tests/expected_limits.yml."""


KUSTO_TO_DUCKDB = {"string": "VARCHAR", "bool": "BOOLEAN", "datetime": "TIMESTAMPTZ"}


def kql_rows(query: str, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows the KQL query returns over AWSCloudTrail rows made from the records. Raises ExecutorLimit
    (with duckdb-kql's reason) when the executor does not implement an operator the query uses."""
    import duckdb_kql

    columns = sentinel_table()["columns"]
    connection = duckdb_kql.connect()
    connection.execute(
        'CREATE TABLE "AWSCloudTrail" ('
        + ", ".join(f'"{c["name"]}" {KUSTO_TO_DUCKDB[c["type"]]}' for c in columns)
        + ")"
    )
    for record in records:
        row = to_sentinel_row(record)
        connection.execute(
            'INSERT INTO "AWSCloudTrail" VALUES (' + ", ".join("?" for _ in columns) + ")",
            [row.get(c["name"]) for c in columns],
        )
    try:
        cursor = duckdb_kql.execute(connection, query)
    except duckdb_kql.KqlUnsupportedError as error:
        raise ExecutorLimit(f"duckdb-kql cannot execute this query ({error})") from None
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def kql_event_ids(query: str, records: Iterable[dict[str, Any]]) -> set[str]:
    return {str(row["AwsEventId"]) for row in kql_rows(query, records)}


def kql_chain_alerts(query: str, records: Iterable[dict[str, Any]]) -> list[list[str]]:
    alerts = []
    for row in kql_rows(query, records):
        ids = row["EventIds"]
        alerts.append([str(i) for i in (json.loads(ids) if isinstance(ids, str) else ids)])
    return alerts


def eql_results(query: str, records: Iterable[dict[str, Any]]) -> list[list[str]]:
    """Every result of an EQL query (a single event, or a sequence) as lists of eventIDs, from
    Elastic's eql Python engine over the records as the AWS integration stores them."""
    import eql
    from eql.parser import allow_runs, elasticsearch_syntax, ignore_missing_functions

    with elasticsearch_syntax, ignore_missing_functions, allow_runs:
        ast = eql.parse_query(query)
    events = []
    for record in records:
        ticks = int(datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).timestamp() * 10**7)
        events.append(eql.Event("any", ticks, dict(to_ecs_document(record), timestamp=ticks)))
    found: list[list[str]] = []
    engine = eql.PythonEngine()
    engine.add_query(ast)
    engine.add_output_hook(lambda result: found.append([e.data["event"]["id"] for e in result.events]))
    engine.stream_events(sorted(events, key=lambda e: e.time))
    return found


def eql_event_ids(query: str, records: Iterable[dict[str, Any]]) -> set[str]:
    return {event_id for result in eql_results(query, records) for event_id in result}
