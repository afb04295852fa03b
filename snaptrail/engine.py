"""DuckDB holding raw CloudTrail records: where compiled SQL runs, for `scan` and for the tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import duckdb

from snaptrail.backends.duckdb import TABLE


class CloudTrailStore:
    """An in-memory table `cloudtrail(seq, event_id, event_time, origin, raw JSON)`."""

    def __init__(self) -> None:
        self.connection = duckdb.connect(":memory:")
        self.connection.execute(
            f"CREATE TABLE {TABLE} "
            "(seq INTEGER, event_id VARCHAR, event_time TIMESTAMPTZ, origin VARCHAR, raw JSON)"
        )
        self._count = 0

    def add(self, records: Iterable[tuple[str, dict[str, Any]]]) -> None:
        rows = []
        for origin, record in records:
            rows.append(
                (self._count, record.get("eventID"), record.get("eventTime"), origin, json.dumps(record))
            )
            self._count += 1
        if rows:
            self.connection.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?)", rows)

    def matching_event_ids(self, sql: str) -> list[str]:
        """eventIDs of the rows a compiled rule query selects, in record order."""
        rows = self.connection.execute(f"SELECT event_id FROM ({sql}) ORDER BY seq").fetchall()
        return [row[0] for row in rows]

    def query(self, sql: str) -> list[dict[str, Any]]:
        cursor = self.connection.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        self.connection.close()
