"""`snaptrail check`: lint the rule corpus offline, before a SIEM sees it.

Two kinds of checks:
* pySigma's validators (core and the SigmaHQ set), with MITRE ATT&CK data from the pinned table
  in snaptrail/data (pySigma would otherwise download it). Validators that need data published
  only on GitHub are left out by name; EXCLUDED_VALIDATORS says why.
* snaptrail's own: required metadata, unique ids, ATT&CK tags in the pinned version, levels,
  fixtures per rule, every field a real CloudTrail path for the rule's events, enum values
  exactly as CloudTrail writes them, only successful calls.
Every issue names file, line, rule and check.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import yaml

from snaptrail.cloudtrail.registry import CloudTrailPath, Registry, registry

LEVELS = ("informational", "low", "medium", "high", "critical")
STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")
REQUIRED = (
    "title", "id", "status", "level", "description", "references", "falsepositives", "tags", "triage",
    "author", "date", "logsource", "detection",
)  # fmt: skip

_TAXONOMY = "needs the SigmaHQ taxonomy, published only on GitHub"
EXCLUDED_VALIDATORS = {
    "d3_fendtag": "downloads MITRE D3FEND data; snaptrail uses no D3FEND tags",
    "sigmahq_fieldname_cast": f"{_TAXONOMY}; snaptrail checks fields against its registry",
    "sigmahq_invalid_fieldname": f"{_TAXONOMY}; snaptrail checks fields against its registry",
    "sigmahq_redundant_field": _TAXONOMY,
    "sigmahq_logsource_unknown": f"{_TAXONOMY}; snaptrail requires aws/cloudtrail itself",
    "sigmahq_filename_prefix": "needs SigmaHQ's filename table from GitHub; snaptrail files rules by family",
}
# Attributes snaptrail adds to Sigma rules (custom attributes are allowed by the specification).
CUSTOM_ATTRIBUTES = {"triage"}
# Modifiers after which a value is a pattern, not an exact CloudTrail value.
PATTERN_MODIFIERS = {"contains", "startswith", "endswith", "re", "expand", "cidr", "fieldref"}


@dataclass(frozen=True)
class Issue:
    file: str
    line: int
    rule_id: str
    title: str
    check: str
    message: str

    def text(self) -> str:
        return f"{self.file}:{self.line}: rule '{self.title}' ({self.rule_id}): [{self.check}] {self.message}"


@dataclass(frozen=True)
class RuleDocument:
    path: Path
    text: str
    data: dict[str, Any]

    def issue(self, check: str, message: str, near: str = "") -> Issue:
        line = _line_of(self.text, near) if near else 1
        return Issue(
            str(self.path),
            line,
            str(self.data.get("id", "?")),
            str(self.data.get("title", "?")),
            check,
            message,
        )

    @property
    def is_correlation(self) -> bool:
        return "correlation" in self.data


@cache
def attack_data() -> dict[str, Any]:
    text = resources.files("snaptrail.data").joinpath("attack_enterprise.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def _stix_bundle(data: dict[str, Any]) -> dict[str, Any]:
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


def _offline_data(workdir: Path) -> None:
    """Point pySigma's data loaders at local files so no validator ever reaches the network."""
    from sigma.data import mitre_attack

    (workdir / "attack.json").write_text(json.dumps(_stix_bundle(attack_data())), encoding="utf-8")
    mitre_attack.set_url(str(workdir / "attack.json"))
    mitre_attack.set_cache_dir(str(workdir / "attack-cache"))
    import sigma.validators.sigmahq.data as sigmahq_data

    for module_info in pkgutil.iter_modules(sigmahq_data.__path__):
        module = importlib.import_module(f"{sigmahq_data.__name__}.{module_info.name}")
        for name in dir(module):
            if name.startswith("set_url"):
                getattr(module, name)(str(workdir / "no-download.json"))
            elif name.startswith("set_cache_dir"):
                getattr(module, name)(str(workdir / "sigmahq-cache"))


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 1


def _detection_items(detection: dict[str, Any]) -> Iterator[tuple[str, list[str], Any]]:
    """(field, modifiers, value) for every field of every detection of a rule's YAML."""
    for name, body in detection.items():
        if name == "condition":
            continue
        if isinstance(body, dict):
            mappings = [body]
        elif isinstance(body, list):
            mappings = [item for item in body if isinstance(item, dict)]
        else:
            mappings = []
        for mapping in mappings:
            for key, value in mapping.items():
                field, *modifiers = str(key).split("|")
                yield field, modifiers, value


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _values(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if v is not None]


class RuleLinter:
    def __init__(
        self, rule_paths: Sequence[Path], fixture_root: Path | None, whole_corpus: bool = True
    ) -> None:
        self.rule_paths = rule_paths
        self.fixture_root = fixture_root
        # Linting a subset: fixtures of rules outside it are not dangling.
        self.whole_corpus = whole_corpus
        self.registry: Registry = registry()
        self._chains: list[RuleDocument] = []

    def run(self) -> list[Issue]:
        from snaptrail.corpus import rule_files

        issues: list[Issue] = []
        documents: list[RuleDocument] = []
        for path in rule_files(self.rule_paths):
            text = path.read_text(encoding="utf-8")
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as error:
                line = getattr(getattr(error, "problem_mark", None), "line", 0) + 1
                issues.append(Issue(str(path), line, "?", "?", "yaml", f"not valid YAML: {error}"))
                continue
            if not isinstance(data, dict):
                issues.append(Issue(str(path), 1, "?", "?", "yaml", "a rule file must hold one YAML mapping"))
                continue
            documents.append(RuleDocument(path, text, data))
        rules = [document for document in documents if not document.is_correlation]
        self._chains = [document for document in documents if document.is_correlation]
        issues += self._metadata(rules)
        for document in rules:
            issues += self._attack_tags(document)
            issues += self._fields_and_values(document)
        issues += self._pysigma_validators(rules)
        issues += self._fixtures(rules)
        return sorted(set(issues), key=lambda i: (i.file, i.line, i.check, i.message))

    def _metadata(self, rules: list[RuleDocument]) -> list[Issue]:
        issues: list[Issue] = []
        seen_ids: dict[str, Path] = {}
        for rule in rules:
            data = rule.data
            for key in REQUIRED:
                if key not in data or data[key] in (None, "", []):
                    issues.append(rule.issue("required-metadata", f"missing '{key}'"))
            rule_id = str(data.get("id", ""))
            if rule_id in seen_ids:
                issues.append(
                    rule.issue("unique-id", f"id {rule_id} is also used by {seen_ids[rule_id]}", "id:")
                )
            seen_ids.setdefault(rule_id, rule.path)
            if data.get("level") not in LEVELS:
                issues.append(rule.issue("level", f"level must be one of {LEVELS}", "level:"))
            if data.get("status") not in STATUSES:
                issues.append(rule.issue("status", f"status must be one of {STATUSES}", "status:"))
            logsource = data.get("logsource") or {}
            if logsource.get("product") != "aws" or logsource.get("service") != "cloudtrail":
                issues.append(rule.issue("logsource", "logsource must be product: aws, service: cloudtrail"))
            if "errorCode" not in yaml.safe_dump(data.get("detection") or {}):
                message = (
                    "the rule does not exclude failed calls (errorCode); only successful calls may alert"
                )
                issues.append(rule.issue("successful-calls", message, "detection:"))
        return issues

    @staticmethod
    def _attack_tags(rule: RuleDocument) -> list[Issue]:
        attack = attack_data()
        version = attack["version"]
        issues = []
        tags = [str(t) for t in rule.data.get("tags") or []]
        techniques = [
            t.split(".", 1)[1].upper() for t in tags if re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", t)
        ]
        tactics = {
            t.split(".", 1)[1]
            for t in tags
            if t.startswith("attack.") and not re.fullmatch(r"attack\.([tgs]\d{4}(\.\d{3})?)", t)
        }
        if not techniques:
            issues.append(rule.issue("attack-tags", "no ATT&CK technique tag", "tags:"))
        for technique in techniques:
            tag = f"attack.{technique.lower()}"
            known = attack["techniques"].get(technique)
            if known is None:
                issues.append(rule.issue("attack-tags", f"{tag} is not a technique in ATT&CK {version}", tag))
            elif not tactics & set(known["tactics"]):
                message = f"{tag} belongs to tactic(s) {known['tactics']}, none of which is tagged"
                issues.append(rule.issue("attack-tags", message, tag))
        for tactic in sorted(tactics - set(attack["tactics"])):
            message = f"attack.{tactic} is not a tactic in ATT&CK {version}"
            issues.append(rule.issue("attack-tags", message, f"attack.{tactic}"))
        return issues

    def _fields_and_values(self, rule: RuleDocument) -> list[Issue]:
        issues = []
        detection = rule.data.get("detection") or {}
        sources: set[str] = set()
        names: set[str] = set()
        for field, _, value in _detection_items(detection):
            if field == "eventSource":
                sources.update(_values(value))
            elif field == "eventName":
                names.update(_values(value))
        specs = [
            spec
            for (source, name), spec in sorted(self.registry.events.items())
            if (not names or name in names) and (not sources or source in sources)
        ]
        if names and not specs:
            scope = f"{sorted(names)} of {sorted(sources) or 'any source'}"
            issues.append(
                rule.issue("registry", f"no event {scope} is in the CloudTrail registry", "eventName")
            )
        allowed: dict[str, CloudTrailPath] = dict(self.registry.envelope)
        enums: dict[str, set[str]] = {key: set(v) for key, v in self.registry.envelope_values.items()}
        for spec in specs:
            allowed.update(spec.fields)
            for key, values in spec.values.items():
                enums.setdefault(key, set()).update(values)
        events = ", ".join(f"{s.event_source} {s.event_name}" for s in specs) or "any event"
        for field, modifiers, value in _detection_items(detection):
            if field in ("eventSource", "eventName"):
                continue
            if field not in allowed:
                message = f"field '{field}' is not a CloudTrail path of {events} in the registry"
                issues.append(rule.issue("field", message, field))
                continue
            if field not in enums or PATTERN_MODIFIERS & set(modifiers):
                continue
            for written in _values(value):
                if "*" in written or "?" in written or written in enums[field]:
                    continue
                # Same letters, other case or separators: the SigmaHQ `createVolumePermission` slip.
                close = [v for v in sorted(enums[field]) if _letters(v) == _letters(written)]
                hint = f" (CloudTrail writes '{close[0]}', case-exact)" if close else ""
                message = (
                    f"'{written}' is not a value CloudTrail writes in {field}: {sorted(enums[field])}{hint}"
                )
                issues.append(rule.issue("value", message, written))
        return issues

    @staticmethod
    def _pysigma_validators(rules: list[RuleDocument]) -> list[Issue]:
        from sigma.collection import SigmaCollection
        from sigma.exceptions import SigmaRuleLocation
        from sigma.plugins import InstalledSigmaPlugins

        issues: list[Issue] = []
        with tempfile.TemporaryDirectory() as workdir:
            _offline_data(Path(workdir))
            plugins = InstalledSigmaPlugins.autodiscover(include_backends=False, include_pipelines=False)
            validators = [
                cls() for name, cls in sorted(plugins.validators.items()) if name not in EXCLUDED_VALIDATORS
            ]
            by_id: dict[str, RuleDocument] = {}
            parsed = []
            for document in rules:
                source = SigmaRuleLocation(document.path)
                collection = SigmaCollection.from_yaml(document.text, collect_errors=True, source=source)
                errors = [*collection.errors, *(e for rule in collection.rules for e in rule.errors)]
                issues += [document.issue("sigma", str(error)) for error in errors]
                for rule in collection.rules:
                    parsed.append(rule)
                    by_id[str(rule.id)] = document
            for validator in validators:
                found = [issue for rule in parsed for issue in validator.validate(rule)]
                found += validator.finalize()
                for issue in found:
                    fields = getattr(issue, "fieldname", None)
                    if (
                        fields is not None
                        and set(fields if isinstance(fields, list) else [fields]) <= CUSTOM_ATTRIBUTES
                    ):
                        continue
                    detail = {k: v for k, v in vars(issue).items() if k not in ("rules", "severity")}
                    message = issue.description + (f" {detail}" if detail else "")
                    for rule in issue.rules:
                        issues.append(by_id[str(rule.id)].issue(f"pysigma:{type(issue).__name__}", message))
        return issues

    def _fixtures(self, rules: list[RuleDocument]) -> list[Issue]:
        if self.fixture_root is None:
            return []
        issues: list[Issue] = []
        declared: dict[str, list[tuple[bool, Path]]] = {}
        for cases_file in sorted(self.fixture_root.rglob("cases.yml")):
            text = cases_file.read_text(encoding="utf-8")
            cases = yaml.safe_load(text) or {}
            rule_id = str(cases.get("rule_id"))
            for entry in cases.get("cases", []):
                if "records" in entry:  # a chain case: a trail file and the alerts it must raise
                    declared.setdefault(rule_id, []).append((bool(entry.get("expect")), cases_file))
                    if not (cases_file.parent / str(entry["records"])).is_file():
                        where = (
                            str(cases_file),
                            _line_of(text, str(entry["records"])),
                            rule_id,
                            "?",
                            "fixtures",
                        )
                        issues.append(Issue(*where, f"records file {entry['records']} does not exist"))
                    continue
                record = str(entry.get("record", ""))
                record_path = (cases_file.parent / record).resolve()
                expect = entry.get("expect")
                declared.setdefault(rule_id, []).append((expect == "match", record_path))
                where = (str(cases_file), _line_of(text, record), rule_id, "?", "fixtures")
                if expect not in ("match", "no_match"):
                    issues.append(Issue(*where, f"{record}: expect must be match or no_match"))
                if not record_path.is_file():
                    issues.append(Issue(*where, f"record {record} does not exist"))
        event_ids: dict[str, Path] = {}
        record_paths = {
            p for entries in declared.values() for _, p in entries if p.suffix == ".json" and p.is_file()
        }
        for record_path in sorted(record_paths):
            try:
                event_id = str(json.loads(record_path.read_text(encoding="utf-8"))["eventID"])
            except (ValueError, KeyError) as error:
                issues.append(
                    Issue(str(record_path), 1, "?", "?", "fixtures", f"not a CloudTrail record ({error})")
                )
                continue
            if event_ids.setdefault(event_id, record_path) != record_path:
                message = f"eventID {event_id} is also used by {event_ids[event_id]}"
                issues.append(Issue(str(record_path), 1, "?", "?", "fixtures", message))
        for rule in [*rules, *self._chains]:
            entries = declared.get(str(rule.data.get("id")), [])
            if not any(match for match, _ in entries):
                issues.append(rule.issue("fixtures", "no positive fixture (expect: match)"))
            if not any(not match for match, _ in entries):
                issues.append(rule.issue("fixtures", "no negative look-alike fixture (expect: no_match)"))
        known = {str(rule.data.get("id")) for rule in [*rules, *self._chains]}
        for rule_id in sorted(set(declared) - known if self.whole_corpus else ()):
            message = f"cases.yml declares rule_id {rule_id}, which is no rule"
            issues.append(Issue(str(self.fixture_root), 1, rule_id, "?", "fixtures", message))
        return issues


def as_json(issues: list[Issue]) -> str:
    return json.dumps([asdict(issue) for issue in issues], indent=2)


def as_junit(issues: list[Issue], rule_files: list[Path]) -> str:
    """JUnit XML: one test case per rule file, failing with that file's issues."""
    by_file: dict[str, list[Issue]] = {}
    for issue in issues:
        by_file.setdefault(issue.file, []).append(issue)
    names = sorted({str(path) for path in rule_files} | set(by_file))
    suite = ElementTree.Element(
        "testsuite", name="snaptrail check", tests=str(len(names)), failures=str(len(by_file))
    )
    for name in names:
        case = ElementTree.SubElement(suite, "testcase", classname="snaptrail.check", name=name)
        for issue in by_file.get(name, []):
            failure = ElementTree.SubElement(case, "failure", type=issue.check, message=issue.message)
            failure.text = issue.text()
    return ElementTree.tostring(suite, encoding="unicode")
