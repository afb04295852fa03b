"""`snaptrail scan`: every rule over CloudTrail logs, on the embedded DuckDB engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from snaptrail.cloudtrail.records import Limits, ReadReport, read_paths
from snaptrail.config import Config
from snaptrail.corpus import Conversion, Corpus, FilterState
from snaptrail.engine import CloudTrailStore


@dataclass(frozen=True)
class Alert:
    rule_id: str
    title: str
    level: str
    event_ids: list[str]
    time: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class ScanResult:
    alerts: list[Alert]
    read: ReadReport
    failed_rules: list[Conversion]
    filters: list[FilterState]


def scan(
    log_paths: Sequence[Path],
    rule_paths: Sequence[Path],
    config: Config | None = None,
    filter_paths: Sequence[Path] = (),
    limits: Limits | None = None,
) -> ScanResult:
    read = read_paths(log_paths, limits)
    corpus = Corpus.load(rule_paths, filter_paths, config)
    store = CloudTrailStore()
    try:
        store.add((record.origin, record.data, record.raw) for record in read.records)
        times = {
            row["event_id"]: str(row["t"])
            for row in store.query(
                "SELECT event_id, json_extract_string(raw, '$.eventTime') AS t FROM cloudtrail"
            )
        }
        alerts: list[Alert] = []
        failed: list[Conversion] = []
        for conversion in corpus.compiled("duckdb").values():
            if not conversion.ok:
                failed.append(conversion)
                continue
            if conversion.chain:
                for row in store.query(str(conversion.query)):
                    event_ids = [str(i) for i in row["event_ids"]]
                    alerts.append(
                        Alert(conversion.rule_id, conversion.title, conversion.level, event_ids,
                              times.get(event_ids[-1], ""))
                    )  # fmt: skip
                continue
            for event_id in store.matching_event_ids(str(conversion.query)):
                alerts.append(
                    Alert(conversion.rule_id, conversion.title, conversion.level, [event_id],
                          times.get(event_id, ""))
                )  # fmt: skip
    finally:
        store.close()
    alerts.sort(key=lambda a: (a.time, a.rule_id, a.event_ids))
    return ScanResult(alerts, read, failed, corpus.filters)
