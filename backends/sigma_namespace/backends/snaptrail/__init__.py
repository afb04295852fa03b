"""sigma-cli discovers backends in the `sigma.backends` namespace as module-level classes;
snaptrail's are imported here (each has an `identifier` such as `snaptrail_sentinel`)."""

from snaptrail.backends.duckdb import DuckDBBackend
from snaptrail.backends.elastic import EqlCloudTrailBackend, EsqlCloudTrailBackend, LuceneCloudTrailBackend
from snaptrail.backends.sentinel import SentinelBackend
from snaptrail.backends.spark import SparkBackend
from snaptrail.backends.splunk import SplunkCloudTrailBackend

__all__ = [
    "DuckDBBackend",
    "EqlCloudTrailBackend",
    "EsqlCloudTrailBackend",
    "LuceneCloudTrailBackend",
    "SentinelBackend",
    "SparkBackend",
    "SplunkCloudTrailBackend",
]
