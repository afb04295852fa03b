"""`snaptrail scan --engine spark`: every compiled `spark` rule and chain over CloudTrail logs, on Spark.

Spark itself reads the logs (local paths, `hdfs://`, or `s3a://bucket/AWSLogs/...` where the cluster
has hadoop-aws and credentials): each file whole (CloudTrail's S3 objects are one gzip'd JSON document
each, which no reader can split), its records kept as JSON text by `from_json(..., 'Records
ARRAY<STRING>')`. Accepted forms: a trail's log file (`{"Records": [...]}`, compact or pretty-printed,
.gz or not), a bare JSON array of records, one record, JSON lines of records. Folders are read
recursively, files by snaptrail.cloudtrail.records.SUFFIXES; each record is kept once per eventID and
recipientAccountId, as `snaptrail scan` keeps it. The per-record checks of `snaptrail scan`'s reader
(size and nesting limits, field types, EventBridge and LookupEvents envelopes) are not made here.

The view the queries run on (`cloudtrail`, see snaptrail.backends.spark) is `cloudtrail_frame`'s;
a Spark job of your own can build it the same way and run the queries of `dist/queries/spark/`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from snaptrail.backends.duckdb import TABLE
from snaptrail.backends.spark import spark_string
from snaptrail.cloudtrail.records import SUFFIXES
from snaptrail.scan import Alert, Event, _resources

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from snaptrail.corpus import Conversion, Corpus

TARGET = "spark"
LOCAL = "local[2]"
# Local mode talks to nothing but loopback and serves no web UI; a cluster's own configuration
# (spark-defaults.conf, spark-submit --conf) decides these for any other master.
LOCAL_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
# Every master: timestamps are CloudTrail's UTC, whatever the machine's zone.
CONF = {"spark.sql.session.timeZone": "UTC"}

# Each file as one text, then its records as JSON texts (see the module docstring for the forms).
_LINES = r"filter(split(value, '\r?\n'), l -> trim(l) <> '')"
_RECORDS = (
    "CASE WHEN from_json(value, 'Records ARRAY<STRING>').Records IS NOT NULL "
    "THEN from_json(value, 'Records ARRAY<STRING>').Records "
    "WHEN startswith(ltrim(value), '[') THEN from_json(value, 'ARRAY<STRING>') "
    f"WHEN get_json_object(element_at({_LINES}, 1), '$.eventID') IS NOT NULL THEN {_LINES} "
    "ELSE array(value) END"
)


def spark_session(master: str = LOCAL, app_name: str = "snaptrail") -> SparkSession:
    """The process's SparkSession on `master` (created once; Spark allows one SparkContext per process).
    A local master binds to 127.0.0.1 only and starts no UI."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        if active.sparkContext.master != master:
            raise ValueError(
                f"a Spark session on {active.sparkContext.master} is already running in this process; "
                f"cannot start one on {master}"
            )
        return active
    builder = SparkSession.builder.master(master).appName(app_name)
    conf = {**CONF, **(LOCAL_CONF if master.startswith("local") else {})}
    if master.startswith("local"):
        # Read by the JVM Spark starts: without it Spark picks the first non-loopback interface for
        # the addresses it advertises (the driver settings above cover what it binds).
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
        # Tiny shuffles for a laptop-sized job; a cluster keeps its own setting.
        conf["spark.sql.shuffle.partitions"] = "2"
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _location(path: Path | str) -> str:
    text = str(path)
    return text if "://" in text else str(Path(text).resolve())


def cloudtrail_frame(spark: SparkSession, paths: Sequence[Path | str]) -> DataFrame:
    """The `cloudtrail` view's rows from the log files under `paths` (files, folders or URIs)."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    files = (
        spark.read.option("wholetext", "true")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", "*{" + ",".join(SUFFIXES) + "}")
        .text([_location(path) for path in paths])
    )
    records = files.select(
        F.input_file_name().alias("file"), F.posexplode(F.expr(_RECORDS)).alias("pos", "raw")
    ).select(
        "file",
        "pos",
        "raw",
        F.get_json_object("raw", "$.eventID").alias("event_id"),
        F.get_json_object("raw", "$.recipientAccountId").alias("account"),
    )
    # A record is one with an eventID and the envelope every rule reads (as snaptrail scan's reader).
    records = records.where(
        "event_id IS NOT NULL AND get_json_object(raw, '$.eventName') IS NOT NULL "
        "AND get_json_object(raw, '$.eventSource') IS NOT NULL"
    )
    # Delivered twice (overlapping downloads, an organisation trail beside an account trail): kept once,
    # the first in file order.
    first = Window.partitionBy("event_id", "account").orderBy("file", "pos")
    records = records.withColumn("copy", F.row_number().over(first)).where("copy = 1")
    return records.select(
        F.monotonically_increasing_id().alias("seq"),
        "event_id",
        F.expr("try_cast(get_json_object(raw, '$.eventTime') AS TIMESTAMP)").alias("event_time"),
        F.get_json_object("raw", "$.eventTime").alias("event_time_text"),
        F.get_json_object("raw", "$.eventSource").alias("eventSource"),
        F.get_json_object("raw", "$.eventName").alias("eventName"),
        "file",
        "pos",
        "raw",
    )


def register(frame: DataFrame) -> DataFrame:
    """Materialise the rows once (their `seq` must not change between the queries that join on it)
    and make them the `cloudtrail` view."""
    stored = frame.localCheckpoint(eager=True)
    stored.createOrReplaceTempView(TABLE)
    return stored


def run_query(spark: SparkSession, query: str, chain: bool) -> list[tuple[list[str], str]]:
    """(eventIDs, eventTime of the last one) of each result row: one event per row of a rule, a chain's
    alert's events in chain order. Times are joined on the cluster, not collected per record."""
    if chain:
        times = f"(SELECT event_id, max(event_time_text) AS at FROM {TABLE} GROUP BY event_id)"
        sql = (
            f"SELECT alert.event_ids, times.at FROM ({query}) AS alert LEFT JOIN {times} AS times "
            "ON times.event_id = element_at(alert.event_ids, -1)"
        )
        return [([str(i) for i in row["event_ids"]], row["at"] or "") for row in spark.sql(sql).collect()]
    sql = f"SELECT event_id, event_time_text FROM ({query}) AS matched ORDER BY seq"
    return [([str(row["event_id"])], row["event_time_text"] or "") for row in spark.sql(sql).collect()]


def scan_on_spark(log_paths: Sequence[Path | str], corpus: Corpus, master: str = LOCAL) -> list[Alert]:
    """Every rule and chain of `corpus` that compiles for the `spark` target, over the logs under
    `log_paths` (local paths or URIs such as s3a://bucket/AWSLogs/...), on the Spark `master`
    (`local[2]`, `spark://host:7077`, `yarn`, ...). The alerts of `snaptrail.scan.scan`, in its order
    (time, rule, events); rules that do not compile are the caller's to report, as
    `corpus.compiled("spark")` lists them (`not conversion.ok`).

    For `snaptrail scan --engine spark --master URL PATH|s3a://...`:
        alerts = scan_on_spark(args.paths, Corpus.load(rule_paths, filter_paths, config), args.master)
    """
    spark = spark_session(master, "snaptrail scan")
    stored = register(cloudtrail_frame(spark, log_paths))
    found: list[tuple[Conversion, list[str], str]] = []
    try:
        for conversion in corpus.compiled(TARGET).values():
            if not conversion.ok:
                continue
            for event_ids, at in run_query(spark, str(conversion.query), conversion.chain):
                found.append((conversion, event_ids, at))
        events = _events(spark, {event_id for _, ids, _ in found for event_id in ids})
    finally:
        spark.catalog.dropTempView(TABLE)
        stored.unpersist()
    alerts = [
        Alert(c.rule_id, c.title, c.level, ids, at, tuple(events[i] for i in ids if i in events))
        for c, ids, at in found
    ]
    alerts.sort(key=lambda a: (a.time, a.rule_id, a.event_ids))
    return alerts


def _events(spark: SparkSession, event_ids: set[str]) -> dict[str, Event]:
    """What each alert says about its events (snaptrail.scan.Event), read for the alerted ones only;
    `file` is the file's URI as Spark names it and the record's position in it."""
    if not event_ids:
        return {}
    wanted = ", ".join(spark_string(event_id) for event_id in sorted(event_ids))
    rows = spark.sql(
        "SELECT event_id, file, pos, event_time_text AS time, eventSource AS event_source, "
        "eventName AS event_name, get_json_object(raw, '$.recipientAccountId') AS account, "
        "get_json_object(raw, '$.awsRegion') AS region, "
        "coalesce(get_json_object(raw, '$.userIdentity.arn'), "
        "get_json_object(raw, '$.userIdentity.invokedBy'), "
        "get_json_object(raw, '$.userIdentity.type')) AS principal, "
        "get_json_object(raw, '$.sourceIPAddress') AS source_ip, "
        "concat_ws(' ', get_json_object(raw, '$.requestParameters'), "
        "coalesce(get_json_object(raw, '$.responseElements'), '')) AS elements "
        f"FROM {TABLE} WHERE event_id IN ({wanted}) ORDER BY seq"
    ).collect()
    events: dict[str, Event] = {}
    for row in rows:
        events.setdefault(
            row["event_id"],
            Event(row["event_id"], row["time"] or "", row["event_source"] or "", row["event_name"] or "",
                  row["account"] or "", row["region"] or "", row["principal"] or "", row["source_ip"] or "",
                  f"{row['file']}:{row['pos']}", _resources(row["elements"] or "")),
        )  # fmt: skip
    return events
