"""Chains on Elastic: every chain the EQL target expresses is a sequence over fields the AWS integration
or snaptrail's ingest pipeline writes, and each case of its fixtures raises exactly the declared alerts
on Elastic's eql engine, over documents shaped as the integration plus the pipeline leave them
(snaptrail.verify.storage). Elasticsearch's own EQL does not run here: the eql package is the engine.
The chains EQL cannot express are pinned in tests/expected_limits.yml with their reasons.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from snaptrail.verify.executors import eql_results
from snaptrail.verify.run import BURSTS

from expected_limits import expected_unsupported
from fixture_cases import chain_cases_for, chain_rule_ids, rule_corpus

NAMES = {info.id: info.name for info in rule_corpus().rules}
EQL_CHAINS = [
    rule_id for rule_id in chain_rule_ids() if NAMES[rule_id] not in expected_unsupported("elastic-eql")
]


def _conversion(rule_id: str) -> Any:
    return rule_corpus().compiled("elastic-eql")[rule_id]


# Cases where an EQL sequence raises other alerts than snaptrail's chain semantics, as the eql engine
# runs it (and, by Elasticsearch's documented sequence matching, Elasticsearch too): a completed
# sequence consumes its events, so a second share of the same created snapshot raises no second alert,
# and `with runs` windows restart after each match instead of sliding. Pinned as data: a case that
# starts agreeing fails the test and must be removed from here.
SEQUENCES_CONSUME_EVENTS: dict[str, set[str]] = {
    "chain_ebs_snapshot_created_then_shared": {"one_creation_two_shares.json"},
    "chain_rds_snapshot_created_then_shared": {"one_snapshot_two_shares.json"},
    "chain_ebs_snapshot_burst": {"ten_straddling_bucket_edge.json"},
    # One share used twice (a copy and a volume): the share is consumed by the first use.
    "chain_ebs_snapshot_shared_then_used": {"copied_and_volume_created.json"},
    # One launch (or attachment) then SSH and RDP opened: the earlier steps are consumed by the first.
    "chain_mount_launch_with_snapshot_then_exposed": {"ssh_and_rdp_opened.json"},
    "chain_mount_volume_attached_then_exposed": {"ssh_and_rdp_opened.json"},
}


def test_chains_not_pinned_as_unsupported_are_eql_sequences() -> None:
    for rule_id in EQL_CHAINS:
        conversion = _conversion(rule_id)
        assert conversion.ok, conversion.error
        assert str(conversion.query).startswith("sequence "), NAMES[rule_id]


def test_refused_chains_say_why() -> None:
    for rule_id in chain_rule_ids():
        conversion = _conversion(rule_id)
        if not conversion.ok:
            assert conversion.limitation and "elastic-eql" in str(conversion.error), conversion.error


@pytest.mark.parametrize("rule_id", EQL_CHAINS, ids=[NAMES[r] for r in EQL_CHAINS])
def test_each_fixture_case_on_the_eql_engine(rule_id: str) -> None:
    query = str(_conversion(rule_id).query)
    burst = str(rule_corpus().by_id[rule_id].type) in BURSTS  # type: ignore[union-attr]  # .value is a number
    cases = chain_cases_for(rule_id)
    assert cases
    differing = SEQUENCES_CONSUME_EVENTS.get(NAMES[rule_id], set())
    for case in cases:
        alerts = eql_results(query, case.records)
        expected = [list(alert) for alert in case.expect]
        if burst:
            agree = sorted(map(sorted, alerts)) == sorted(map(sorted, expected))
        else:
            agree = alerts == expected
        name = Path(case.declared).name
        if name in differing:
            assert not agree, f"{name} now agrees: remove it from SEQUENCES_CONSUME_EVENTS"
            if not burst:  # consumption only drops alerts: each one EQL raises is a declared one
                assert alerts and all(alert in expected for alert in alerts), (name, alerts, expected)
        else:
            assert agree, (name, alerts, expected)
