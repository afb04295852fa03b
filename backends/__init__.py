"""Per-target query generation: a pySigma processing pipeline and backend for each SIEM language.

`TARGETS` is the one list of what snaptrail compiles to; the CLI, the build, the sigma-cli
plugin modules and the tests all read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sigma.conversion.base import Backend
from sigma.processing.pipeline import ProcessingPipeline

from snaptrail.backends.duckdb import DuckDBBackend, duckdb_pipeline
from snaptrail.backends.elastic import (
    EqlCloudTrailBackend,
    EsqlCloudTrailBackend,
    LuceneCloudTrailBackend,
    eql_pipeline,
    esql_pipeline,
    lucene_pipeline,
)
from snaptrail.backends.sentinel import SentinelBackend, sentinel_pipeline
from snaptrail.backends.spark import SparkBackend, spark_pipeline
from snaptrail.backends.splunk import SplunkCloudTrailBackend, splunk_pipeline


@dataclass(frozen=True)
class Target:
    name: str  # as typed on the command line
    backend: type[Backend]
    pipeline: Callable[[], ProcessingPipeline]
    pipeline_id: str  # name under which sigma-cli lists the pipeline
    extension: str  # file extension of compiled queries in dist/
    language: str


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("splunk", SplunkCloudTrailBackend, splunk_pipeline, "snaptrail_splunk", "spl", "Splunk SPL"),
        Target(
            "elastic-lucene",
            LuceneCloudTrailBackend,
            lucene_pipeline,
            "snaptrail_elastic",
            "lucene",
            "Lucene",
        ),
        Target("elastic-eql", EqlCloudTrailBackend, eql_pipeline, "snaptrail_elastic_eql", "eql", "EQL"),
        Target(
            "elastic-esql", EsqlCloudTrailBackend, esql_pipeline, "snaptrail_elastic_esql", "esql", "ES|QL"
        ),
        Target("sentinel", SentinelBackend, sentinel_pipeline, "snaptrail_sentinel", "kql", "KQL"),
        Target("duckdb", DuckDBBackend, duckdb_pipeline, "snaptrail_duckdb", "sql", "DuckDB SQL"),
        Target("spark", SparkBackend, spark_pipeline, "snaptrail_spark", "sql", "Spark SQL"),
    )
}
