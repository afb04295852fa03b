"""The benchmark's corpus (benchmarks/trail_corpus.py) kept honest at a small size: a scan of it raises
exactly the alerts the generator's bookkeeping planted (none missing, none extra: no background or
look-alike record completes a chain), its files follow CloudTrail's S3 layout, and it is deterministic."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from snaptrail.scan import scan

from fixture_cases import REPO

EVENTS = 20_000
KEY = re.compile(
    r"AWSLogs/(?P<account>[0-9]{12})/CloudTrail/(?P<region>[a-z0-9-]+)/(?P<y>[0-9]{4})/(?P<m>[0-9]{2})/"
    r"(?P<d>[0-9]{2})/(?P=account)_CloudTrail_(?P=region)_(?P=y)(?P=m)(?P=d)T(?P<hm>[0-9]{4})Z_"
    r"[A-Za-z0-9]{16}\.json\.gz"
)


@pytest.fixture(scope="module")
def generator() -> Iterator[ModuleType]:
    # benchmarks/ is a folder of scripts, not a package (the repository root is never importable):
    # its folder is put on the path for this module's tests only.
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO / "benchmarks"))
        import trail_corpus

        yield trail_corpus


@pytest.fixture(scope="module")
def corpus(generator: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generator.ensure(tmp_path_factory.mktemp("corpus") / str(EVENTS), EVENTS, workers=1)


def test_scan_raises_exactly_the_planted_alerts(generator: ModuleType, corpus: Any) -> None:
    content = generator._content()
    result = scan([corpus.logs], content.rules, content.config, content.filters)
    assert not result.read.problems and not result.failed_rules
    found = Counter((alert.rule_id, tuple(alert.event_ids)) for alert in result.alerts)
    expected = corpus.expected()
    assert sum(expected.values()) == corpus.manifest["alerts_expected"]
    assert not expected - found, f"missing: {sorted(expected - found)[:5]}"
    assert not found - expected, f"extra: {sorted(found - expected)[:5]}"
    # Not vacuous: every chain a fixture trail fires is among the expected alerts.
    from snaptrail.fixtures import load_fixtures

    firing = {case.rule_id for case in load_fixtures([REPO / "tests" / "fixtures"]).chains if case.expect}
    assert firing and firing <= {rule_id for rule_id, _ in expected}


def test_files_follow_cloudtrails_s3_layout(corpus: Any) -> None:
    """Each file holds one account, region and 5-minute window (named by its end), records compact
    with eventVersion first; the snapshot-area share is about 3%."""
    records = 0
    for path in corpus.files():
        key = KEY.fullmatch(path.relative_to(corpus.folder).as_posix())
        assert key, path
        stamp = f"{key['y']}{key['m']}{key['d']}{key['hm']}"
        end = datetime.strptime(stamp, "%Y%m%d%H%M").replace(tzinfo=UTC)
        text = zlib.decompress(path.read_bytes(), 31).decode("utf-8")
        assert text.startswith('{"Records":[{"eventVersion":"'), path
        for record in json.loads(text)["Records"]:
            assert next(iter(record)) == "eventVersion"
            assert (record["recipientAccountId"], record["awsRegion"]) == (key["account"], key["region"])
            moment = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            assert end - timedelta(minutes=5) <= moment < end, (path, record["eventTime"])
            records += 1
    manifest = corpus.manifest
    assert records == manifest["events"] == EVENTS
    assert len(set(manifest["accounts"])) == 4 and len(manifest["regions"]) == 5
    assert 0.03 <= (manifest["planted"] + manifest["lookalikes"]) / EVENTS <= 0.05


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":  # it records the generation time
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_same_size_gives_byte_identical_files(generator: ModuleType, tmp_path: Path) -> None:
    first = generator.ensure(tmp_path / "a", 1_000, workers=1)
    second = generator.ensure(tmp_path / "b", 1_000, workers=1)
    assert _digest(first.folder) == _digest(second.folder)
    # And the folder is reused, not regenerated, when it already holds this corpus.
    assert generator.ensure(first.folder, 1_000, workers=1).manifest == first.manifest
