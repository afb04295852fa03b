"""The validator set `snaptrail check` runs (pySigma core, SigmaHQ, snaptrail) and the offline data
it runs on.

pySigma and the SigmaHQ validators download data (MITRE ATT&CK, the SigmaHQ taxonomy) from GitHub.
`snaptrail check` never does: pySigma's ATT&CK loader reads snaptrail's pinned table, written as the
minimal STIX bundle it parses, and the SigmaHQ loaders point at a file that does not exist, so a
validator that would need them fails loudly instead of downloading. Validators that need
GitHub-only data, or whose findings contradict snaptrail's rule schema, are left out by name;
EXCLUDED_VALIDATORS says why.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import pkgutil
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sigma.exceptions import SigmaError
from sigma.plugins import InstalledSigmaPlugins
from sigma.rule import SigmaRule
from sigma.validators.base import SigmaRuleValidator

from snaptrail.attack import attack_data
from snaptrail.checks import validators as own
from snaptrail.checks.report import Issue, rule_issue, validation_issue
from snaptrail.corpus import with_condition_hint
from snaptrail.fixtures import Fixtures

_TAXONOMY = "needs the SigmaHQ taxonomy, published only on GitHub"
EXCLUDED_VALIDATORS = {
    "d3_fendtag": "downloads MITRE D3FEND data; snaptrail uses no D3FEND tags",
    "sigmahq_fieldname_cast": f"{_TAXONOMY}; snaptrail_field checks fields against the registry",
    "sigmahq_invalid_fieldname": f"{_TAXONOMY}; snaptrail_field checks fields against the registry",
    "sigmahq_redundant_field": _TAXONOMY,
    "sigmahq_logsource_unknown": f"{_TAXONOMY}; snaptrail_logsource requires aws/cloudtrail",
    "sigmahq_filename_prefix": "needs SigmaHQ's filename table from GitHub; snaptrail files rules by family",
    "sigmahq_correlation_filename_prefix": (
        "SigmaHQ names correlation files correlation_*; snaptrail files chains as chain_*.yml, and the "
        "file stem names the packaged saved searches"
    ),
    "sigmahq_unknown_field": (
        "flags `triage` on every rule; snaptrail_unknown_attribute is the same check with triage known"
    ),
    "sigmahq_mitre_link": (
        "flags links to ATT&CK detection strategies, which have no tag; snaptrail_mitre_link allows them"
    ),
}


def validator_classes() -> dict[str, type[SigmaRuleValidator]]:
    """Every installed validator by identifier, snaptrail's included, the excluded ones left out."""
    plugins = InstalledSigmaPlugins.autodiscover(include_backends=False, include_pipelines=False)
    # Discovery lists the files inside sigma/validators/, so an editable install of snaptrail is not
    # found there: its validators are added by import.
    found = {**plugins.validators, **own.validators}
    return {name: cls for name, cls in sorted(found.items()) if name not in EXCLUDED_VALIDATORS}


def stix_bundle(data: dict[str, Any]) -> dict[str, Any]:
    """The pinned ATT&CK table as the minimal STIX bundle pySigma's loader reads."""
    objects: list[dict[str, Any]] = [{"type": "x-mitre-collection", "x_mitre_version": data["version"]}]
    for short, tactic in data["tactics"].items():
        reference = {"source_name": "mitre-attack", "external_id": tactic["id"]}
        objects.append(
            {"type": "x-mitre-tactic", "name": tactic["name"], "x_mitre_shortname": short,
             "external_references": [reference]}
        )  # fmt: skip
    for technique_id, technique in data["techniques"].items():
        phases = [{"kill_chain_name": "mitre-attack", "phase_name": phase} for phase in technique["tactics"]]
        reference = {"source_name": "mitre-attack", "external_id": technique_id}
        objects.append(
            {"type": "attack-pattern", "name": technique["name"], "external_references": [reference],
             "kill_chain_phases": phases}
        )  # fmt: skip
    return {"type": "bundle", "objects": objects}


@functools.cache
def _offline_dir() -> Path:
    # One folder per process, kept until exit: pySigma's loaders keep pointing at it after a run.
    folder = Path(tempfile.mkdtemp(prefix="snaptrail-check-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "attack.json").write_text(json.dumps(stix_bundle(attack_data())), encoding="utf-8")
    return folder


def use_offline_data() -> None:
    """Point pySigma's data loaders at local files so no validator ever reaches the network.
    Cache folders first: set_url clears the cache, which would otherwise be the user's own."""
    from sigma.data import mitre_attack

    folder = _offline_dir()
    mitre_attack.set_cache_dir(str(folder / "attack-cache"))
    mitre_attack.set_url(str(folder / "attack.json"))
    import sigma.validators.sigmahq.data as sigmahq_data

    for module_info in pkgutil.iter_modules(sigmahq_data.__path__):
        module = importlib.import_module(f"{sigmahq_data.__name__}.{module_info.name}")
        if hasattr(module, "set_url"):
            module.set_cache_dir(str(folder / "sigmahq-cache"))
            module.set_url(str(folder / "no-download.json"))


def _condition_error(rule: SigmaRule) -> str | None:
    """sigma-cli parses conditions before validating, and so does this: validators that read the
    condition would otherwise fail on it one by one."""
    try:
        for condition in rule.detection.parsed_condition:
            condition.parse()
    except SigmaError as error:
        message = f"{type(error).__name__}: {error.args[0] if error.args else error}"
        return with_condition_hint(rule, message)
    return None


def validate(rules: Sequence[own.AnyRule], fixtures: Fixtures | None) -> list[Issue]:
    """pySigma validation of parsed rules, offline, one Issue per finding. A validator that fails on
    a rule is one issue for that rule (naming every validator that failed), never a traceback."""
    use_offline_data()
    config: dict[str, dict[str, Any]] = {"snaptrail_fixtures": {"fixtures": fixtures}}
    instances = {name: cls(**config.get(name, {})) for name, cls in validator_classes().items()}
    issues: list[Issue] = []
    checkable = []
    for rule in rules:
        error = _condition_error(rule) if isinstance(rule, SigmaRule) else None
        if error is None:
            checkable.append(rule)
        else:
            issues.append(rule_issue(rule, "condition", error, [("condition:",)]))
    failures: dict[int, tuple[own.AnyRule, list[str], set[str]]] = {}
    for name, validator in instances.items():
        for rule in checkable:
            try:
                found = validator.validate(rule)
            except Exception as error:  # a third-party validator's bug must not abort the run
                failed = failures.setdefault(id(rule), (rule, [], set()))
                failed[1].append(name)
                failed[2].add(f"{type(error).__name__}: {error}")
                continue
            issues.extend(validation_issue(name, issue) for issue in found)
        issues.extend(validation_issue(name, issue) for issue in validator.finalize())
    for rule, names, errors in failures.values():
        message = f"{', '.join(names)} could not read this rule ({'; '.join(sorted(errors))})"
        issues.append(rule_issue(rule, "validator-error", message))
    return issues
