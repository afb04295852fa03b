"""Apache Spark (pyspark, local mode) as the `spark` target's parser and engine.

One SparkSession per process (snaptrail.spark_scan.spark_session on `local[2]`: bound to 127.0.0.1,
no UI), started on first use. Records reach Spark as a trail's log file does: written as
`{"Records": [...]}` and read by snaptrail.spark_scan.cloudtrail_frame, the reader `snaptrail scan
--engine spark` uses on S3, so a query is proven on the rows a cluster would hold.

Starting the JVM costs seconds and every query a Spark job: a record set is loaded once and kept
(the last few, by content), so many queries over the same records (`spark_batch`, the semantics and
allowlist suites) pay for one load.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snaptrail.backends.duckdb import TABLE
from snaptrail.spark_scan import LOCAL, cloudtrail_frame, register, run_query, spark_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Records = Iterable[dict[str, Any]]
_KEPT = 4  # record sets kept loaded


class _Frames:
    """The process's session and its loaded record sets (most recent last)."""

    def __init__(self) -> None:
        self.loaded: OrderedDict[str, DataFrame] = OrderedDict()
        self.current: str | None = None
        self.empty: DataFrame | None = None
        self._folder: Path | None = None

    @property
    def spark(self) -> SparkSession:
        return spark_session(LOCAL, "snaptrail test")

    def folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="snaptrail-spark-"))
        return self._folder

    def use(self, records: Records) -> None:
        """Make `records` the `cloudtrail` view."""
        text = json.dumps({"Records": list(records)}, ensure_ascii=False)
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if key not in self.loaded:
            log = self.folder() / f"{key}.json"
            log.write_text(text, encoding="utf-8", errors="surrogatepass")
            try:
                self.loaded[key] = register(cloudtrail_frame(self.spark, [log]))
            finally:
                log.unlink()
            while len(self.loaded) > _KEPT:
                _, old = self.loaded.popitem(last=False)
                old.unpersist()
        self.loaded.move_to_end(key)
        if self.current != key:
            self.loaded[key].createOrReplaceTempView(TABLE)
            self.current = key

    def use_empty(self) -> None:
        """A `cloudtrail` view with the columns and no rows (for analysis alone)."""
        if self.empty is None:
            self.empty = register(cloudtrail_frame(self.spark, [self.folder()]))
        self.empty.createOrReplaceTempView(TABLE)
        self.current = None

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


_FRAMES = _Frames()
atexit.register(_FRAMES.close)


def spark_errors(query: str) -> list[str]:
    """Spark's parser and analyzer on the query (spark.sql analyses eagerly; nothing runs)."""
    from pyspark.errors import PySparkException

    _FRAMES.use_empty()
    try:
        _FRAMES.spark.sql(query)
    except PySparkException as error:
        return [" ".join(str(error).split())]
    return []


def spark_event_ids(query: str, records: Records) -> set[str]:
    _FRAMES.use(records)
    return {ids[0] for ids, _ in run_query(_FRAMES.spark, query, chain=False)}


def spark_chain_alerts(query: str, records: Records) -> list[list[str]]:
    _FRAMES.use(records)
    return [ids for ids, _ in run_query(_FRAMES.spark, query, chain=True)]


def spark_batch(queries: dict[str, str], records: Records) -> dict[str, set[str]]:
    """Many single-event queries over one record set: eventIDs matched, per query id."""
    _FRAMES.use(records)
    return {
        name: {ids[0] for ids, _ in run_query(_FRAMES.spark, query, chain=False)}
        for name, query in queries.items()
    }
