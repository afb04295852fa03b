"""The scan's compiled plan kept between scans (snaptrail.scan_plan): used only for the content it was
compiled from, never a reason for a scan to fail."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from snaptrail.config import Allowlists, Config
from snaptrail.corpus import Corpus
from snaptrail.scan import ScanResult, scan
from snaptrail.scan_plan import PLAN_FOLDER, plan_key

from fixture_cases import FILTERS, REPO, RULES, all_cases

SNAPSHOT_CREATED = RULES / "ebs" / "ebs_snapshot_created.yml"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SNAPTRAIL_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    records = {case.event_id: case.record for case in all_cases()}
    folder = tmp_path / "logs"
    folder.mkdir()
    body = json.dumps({"Records": [records[k] for k in sorted(records)]}, separators=(",", ":"))
    (folder / "trail.json.gz").write_bytes(gzip.compress(body.encode()))
    return folder


def _alerts(result: ScanResult) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(alert.rule_id, alert.level, tuple(alert.event_ids)) for alert in result.alerts]


def _no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> Corpus:
        raise AssertionError("the rules were loaded and compiled although a plan was stored")

    monkeypatch.setattr(Corpus, "load", refuse)


def test_a_second_scan_runs_the_stored_plan_with_the_same_alerts(
    cache: Path, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = scan([logs], [RULES], filter_paths=[FILTERS])
    assert first.alerts and len(list((cache / PLAN_FOLDER).glob("*.pickle"))) == 1
    _no_compiling(monkeypatch)
    second = scan([logs], [RULES], filter_paths=[FILTERS])
    assert _alerts(second) == _alerts(first)
    assert second.filters == first.filters and second.rules == first.rules
    assert second.candidates == first.candidates


def test_an_edited_rule_is_compiled_again(cache: Path, logs: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    before = {alert[1] for alert in _alerts(scan([logs], [rules])) if alert[0] == _rule_id(SNAPSHOT_CREATED)}
    edited = rules / SNAPSHOT_CREATED.relative_to(RULES)
    text = edited.read_text(encoding="utf-8")
    level = next(line for line in text.splitlines() if line.startswith("level:"))
    edited.write_text(text.replace(level, "level: critical"), encoding="utf-8")
    after = {alert[1] for alert in _alerts(scan([logs], [rules])) if alert[0] == _rule_id(SNAPSHOT_CREATED)}
    assert before and before != {"critical"} and after == {"critical"}
    # Rule files removed are another content too: the chains' alerts go with their files.
    chain_ids = {_rule_id(path) for path in (rules / "chains").glob("*.yml")}
    assert chain_ids & {alert[0] for alert in _alerts(scan([logs], [rules]))}
    shutil.rmtree(rules / "chains")
    assert not chain_ids & {alert[0] for alert in _alerts(scan([logs], [rules]))}


def _rule_id(path: Path) -> str:
    return next(line.split(":", 1)[1].strip() for line in path.read_text(encoding="utf-8").splitlines()
                if line.startswith("id:"))  # fmt: skip


def test_the_key_covers_filters_settings_and_overlays() -> None:
    base = plan_key([RULES], [FILTERS], None)
    assert plan_key([RULES], [FILTERS], None) == base
    assert plan_key([RULES], [], None) != base
    assert (
        plan_key([RULES], [FILTERS], Config(allowlists=Allowlists(org_account_ids=["111122223333"]))) != base
    )
    from snaptrail.cloudtrail.registry import use_overlays

    use_overlays([REPO / "snaptrail" / "starter" / "registry"])
    try:
        assert plan_key([RULES], [FILTERS], None) != base
    finally:
        use_overlays([])


def test_a_damaged_plan_is_compiled_again(cache: Path, logs: Path) -> None:
    expected = _alerts(scan([logs], [RULES], filter_paths=[FILTERS]))
    (stored,) = (cache / PLAN_FOLDER).glob("*.pickle")
    stored.write_bytes(b"not a plan")
    assert _alerts(scan([logs], [RULES], filter_paths=[FILTERS])) == expected
    assert stored.read_bytes() != b"not a plan"  # replaced by the plan compiled again


def test_a_cache_folder_that_cannot_be_written_costs_nothing_but_time(
    tmp_path: Path, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("SNAPTRAIL_CACHE_DIR", str(blocker / "sub"))  # under a file: no folder can be made
    first = scan([logs], [RULES], filter_paths=[FILTERS])
    assert first.alerts and _alerts(scan([logs], [RULES], filter_paths=[FILTERS])) == _alerts(first)


def test_an_edit_of_snaptrail_or_its_backends_is_another_key() -> None:
    import os

    import snaptrail.backends.duckdb
    from snaptrail import scan_plan

    backend = Path(snaptrail.backends.duckdb.__file__)
    before = os.stat(backend)
    scan_plan._code_digest.cache_clear()
    digest = scan_plan._code_digest()
    try:
        os.utime(backend, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        scan_plan._code_digest.cache_clear()
        assert scan_plan._code_digest() != digest
    finally:
        os.utime(backend, ns=(before.st_atime_ns, before.st_mtime_ns))
        scan_plan._code_digest.cache_clear()


def test_only_the_most_recently_used_plans_are_kept(cache: Path, logs: Path) -> None:
    import os
    import time

    from snaptrail import scan_plan

    scan([logs], [RULES], filter_paths=[FILTERS])
    (used,) = (cache / PLAN_FOLDER).glob("*.pickle")
    plan = scan_plan.cached_plan(used.stem)
    assert plan is not None
    now = time.time()
    for index in range(scan_plan.KEPT_PLANS + 4):
        scan_plan.save_plan(f"{index:064x}", plan)
        os.utime(cache / PLAN_FOLDER / f"{index:064x}.pickle", (now - 1000 + index, now - 1000 + index))
    os.utime(used, (now - 2000, now - 2000))  # the oldest of all, until a scan uses it again
    assert scan_plan.cached_plan(used.stem) is not None
    scan_plan.save_plan("f" * 64, plan)
    kept = {path.stem for path in (cache / PLAN_FOLDER).glob("*.pickle")}
    assert len(kept) == scan_plan.KEPT_PLANS and {used.stem, "f" * 64} <= kept
    assert f"{0:064x}" not in kept  # the least recently used went first
