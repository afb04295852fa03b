"""DuckDB holding raw CloudTrail records: where compiled SQL runs, for `scan` and for the tests."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

from snaptrail.backends.duckdb import EXTRACTED, TABLE, extracted_path
from snaptrail.cloudtrail.records import Record

LOAD_BATCH_ROWS = 4096  # records per insert (a few MB of JSON)


def event_ids_sql(sql: str) -> str:
    """A compiled single-event rule's query narrowed to the eventIDs it selects, in record order."""
    return f"SELECT event_id FROM ({sql}) ORDER BY seq"


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class QueryFailure:
    """A statement DuckDB could not run, and why (its error's first line)."""

    reason: str


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class CloudTrailStore:
    """An in-memory table `cloudtrail(seq, event_id, event_time, origin, eventSource, eventName, raw
    JSON, <EXTRACTED>)`.

    eventSource and eventName are also columns (snaptrail.backends.duckdb.COLUMNS): every rule
    filters on them first, so DuckDB parses a record's JSON only for the events a rule is about; the
    identity and error fields every filter reads are columns too (EXTRACTED), parsed once per record."""

    def __init__(self, spill_directory: Path | None = None, memory_limit: str | None = None) -> None:
        """In memory; for a large scan within `memory_limit`, beyond which DuckDB moves pages to
        `spill_directory` (no database file: nothing is written back when the scan ends). DuckDB is
        opened when first needed: the first `add` consumes its records before, so the worker
        processes a scan forks to produce them never inherit an open database and its threads."""
        self._spill_directory, self._memory_limit = spill_directory, memory_limit
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._count = 0

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            self._connection = duckdb.connect(":memory:")
            if self._memory_limit is not None:
                self._connection.execute(f"SET memory_limit = '{self._memory_limit}'")
            if self._spill_directory is not None:
                self._connection.execute(f"SET temp_directory = '{self._spill_directory}'")
            # Every query orders by `seq`: no operator needs to keep the table's insertion order.
            self._connection.execute("SET preserve_insertion_order = false")
            extracted = "".join(f', "{name}" VARCHAR' for name in EXTRACTED)
            self._connection.execute(
                f"CREATE TABLE {TABLE} (seq INTEGER, event_id VARCHAR, event_time TIMESTAMPTZ, "
                f'origin VARCHAR, "eventSource" VARCHAR, "eventName" VARCHAR, raw JSON{extracted})'
            )
        return self._connection

    def add(self, records: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Load (origin, record) pairs: records as the tests and `snaptrail test` build them."""
        self._load(
            (origin, record.get("eventID"), record.get("eventTime"), _text(record.get("eventSource")),
             _text(record.get("eventName")), json.dumps(record))
            for origin, record in records
        )  # fmt: skip

    def add_records(self, records: Iterable[Record]) -> None:
        """Load records as snaptrail.cloudtrail.records read them: checked, their JSON text ready."""
        self._load((r.origin, r.event_id, r.event_time, r.event_source, r.event_name, r.raw) for r in records)

    def _load(self, rows: Iterable[tuple[str, Any, Any, str | None, str | None, str]]) -> None:
        """Bulk-load through DuckDB's JSON reader: row-by-row inserts from Python run at a few
        thousand rows a second, the reader at hundreds of thousands. A record's JSON text is written
        into its row as it is, not escaped again as a string. Rows go in batches, so one insert's
        working memory stays well inside the store's memory limit however many records a scan keeps."""
        batch: list[bytes] = []
        for origin, event_id, event_time, event_source, event_name, raw in rows:
            fields = [self._count, event_id, event_time, origin, event_source, event_name]
            try:
                envelope = orjson.dumps(fields)
            except orjson.JSONEncodeError:  # a file name with undecodable bytes: escaped by json
                envelope = json.dumps(fields).encode("ascii")
            batch.append(b'{"row":' + envelope + b',"raw":' + raw.encode("utf-8") + b"}\n")
            self._count += 1
            if len(batch) == LOAD_BATCH_ROWS:
                self._insert(batch)
                batch = []
        if batch:
            self._insert(batch)

    def _insert(self, lines: list[bytes]) -> None:
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as handle:
            handle.writelines(lines)
        try:
            # One JSON function for every extracted path: each JSON function of a query holds a
            # working buffer of its own per thread.
            paths = ", ".join(extracted_path(name) for name in EXTRACTED)
            extracted = "".join(f", e[{i}]" for i in range(1, len(EXTRACTED) + 1))
            self.connection.execute(
                f"INSERT INTO {TABLE} SELECT row[1]::INTEGER, row[2], TRY_CAST(row[3] AS TIMESTAMPTZ), "
                f"row[4], row[5], row[6], raw{extracted} FROM (SELECT *, json_extract_string(raw, [{paths}]) "
                "AS e FROM read_json(?, columns={'row': 'VARCHAR[]', 'raw': 'JSON'}, "
                "format='newline_delimited'))",
                [handle.name],
            )
        finally:
            os.unlink(handle.name)

    def matching_event_ids(self, sql: str) -> list[str]:
        """eventIDs of the rows a compiled rule query selects, in record order."""
        return [row[0] for row in self.connection.execute(event_ids_sql(sql)).fetchall()]

    def query(self, sql: str) -> list[dict[str, Any]]:
        return _rows(self.connection.execute(sql))

    def stream(self, sql: str, batch: int = 2048) -> Iterator[dict[str, Any]]:
        """The rows one at a time, fetched in batches: for a result too large to hold twice (as
        DuckDB's result and as Python rows)."""
        cursor = self.connection.execute(sql)
        names = [column[0] for column in cursor.description]
        while rows := cursor.fetchmany(batch):
            for row in rows:
                yield dict(zip(names, row, strict=True))

    def query_all(self, statements: Sequence[str], threads: int) -> list[list[dict[str, Any]] | QueryFailure]:
        """Each statement's rows (or why it could not run), in the order given, run side by side on
        `threads` cursors: a scan's candidates fit in one of DuckDB's row groups, so one query keeps
        one core busy. A statement that runs out of the store's memory limit (a chain over a trail
        where one principal makes thousands of snapshot calls) is run again with the limit raised to
        half the machine's memory; one that still fails is a QueryFailure, the others still run."""
        connection = self.connection
        local = threading.local()
        raising = threading.Lock()

        def run(sql: str) -> list[dict[str, Any]] | QueryFailure:
            if not hasattr(local, "cursor"):
                local.cursor = connection.cursor()
            try:
                return _rows(local.cursor.execute(sql))
            except duckdb.OutOfMemoryException:
                with raising:
                    self._raise_memory_limit()
                    try:
                        return _rows(local.cursor.execute(sql))
                    except duckdb.Error as error:
                        return QueryFailure(_first_line(error))
            except duckdb.Error as error:
                return QueryFailure(_first_line(error))

        if threads <= 1 or len(statements) <= 1:
            return [run(sql) for sql in statements]
        with ThreadPoolExecutor(threads, thread_name_prefix="snaptrail-query") as pool:
            return list(pool.map(run, statements))

    def _raise_memory_limit(self) -> None:
        try:
            half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 // (1024 * 1024)
        except (AttributeError, ValueError, OSError):  # no sysconf (Windows): a fixed 4 GB
            half = 4096
        self.connection.execute(f"SET memory_limit = '{max(half, 1024)}MB'")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
