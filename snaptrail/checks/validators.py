"""snaptrail's checks as pySigma validators: they read the parsed rule (detection items, modifiers,
values, tags, custom attributes), never its YAML.

What pySigma core and the SigmaHQ validators already check is theirs, so one defect gives one issue:
an invalid level or status is a pySigma parse error; a missing description, author, date, level or
status is SigmaHQ's; an ATT&CK tag unknown to ATT&CK is core `attacktag`'s and a technique without
its tactic is `sigmahq_tags_techniques_without_tactics`'s (both read the pinned table under
`snaptrail check`). What is left is snaptrail's: the CloudTrail registry (fields, events, enum
values), successful calls only, the aws/cloudtrail logsource, the attributes snaptrail requires that
Sigma does not (references, falsepositives, triage), the pinned ATT&CK version and the fixtures.

Two SigmaHQ validators contradict snaptrail's rule schema and run here as variants (subclasses that
drop those findings); `snaptrail check` excludes the originals:
* `sigmahq_unknown_field` flags `triage`, a custom attribute every snaptrail rule carries;
* `sigmahq_mitre_link` flags links to ATT&CK detection strategies, for which no tag exists.

The issue identifier of each validator is `validator_classname_to_identifier(class name)`, the
name pySigma's validation config (`sigma check -c`) uses for `validators`, `exclusions`, `config`.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sigma.correlations import SigmaCorrelationRule
from sigma.data import mitre_attack
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaFieldReference, SigmaNumber, SigmaString, SigmaType
from sigma.validators.base import SigmaRuleValidator, SigmaValidationIssue, SigmaValidationIssueSeverity
from sigma.validators.core import validator_classname_to_identifier
from sigma.validators.core.metadata import CustomAttributesValidator
from sigma.validators.core.tags import ATTACKTagValidator
from sigma.validators.sigmahq.fields import SigmahqUnknownFieldIssue, SigmahqUnknownFieldValidator
from sigma.validators.sigmahq.references import SigmahqMitreLinkIssue, SigmahqMitreLinkValidator

from snaptrail.attack import attack_data, parse_attack_tags
from snaptrail.cloudtrail.registry import CloudTrailPath, EventSpec, UnknownFieldError, registry
from snaptrail.fixtures import ChainCase, Fixtures, load_fixtures

AnyRule = SigmaRule | SigmaCorrelationRule
HIGH, MEDIUM = SigmaValidationIssueSeverity.HIGH, SigmaValidationIssueSeverity.MEDIUM

# Custom attributes snaptrail adds to Sigma rules (the specification allows custom attributes).
CUSTOM_ATTRIBUTES = frozenset({"triage"})
# Attributes snaptrail requires that neither pySigma nor the SigmaHQ validators require.
SNAPTRAIL_REQUIRED = ("references", "falsepositives", "triage")
# ATT&CK pages that no Sigma tag can name, so a link to them is a reference, not a missing tag.
UNTAGGABLE_ATTACK_PAGES = ("/detectionstrategies/", "/analytics/", "/datacomponents/")


# ---- issues -----------------------------------------------------------------------------------------
@dataclass
class SnaptrailIssue(SigmaValidationIssue):
    """A snaptrail finding. `template` is the sentence `snaptrail check` prints and `near` what locates
    it in the rule file, best first (each entry: strings that share one line); both are formatted
    with the issue's fields, which sigma-cli prints after the description."""

    template: ClassVar[str] = "{description}"
    near: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @property
    def message(self) -> str:
        return self.template.format(description=self.description, **vars(self))

    def locate(self) -> list[tuple[str, ...]]:
        return [tuple(needle.format(**vars(self)) for needle in needles) for needles in self.near]


@dataclass
class SnaptrailLogsourceIssue(SnaptrailIssue):
    description: ClassVar[str] = "snaptrail rules read AWS CloudTrail: product aws, service cloudtrail"
    severity: ClassVar[SigmaValidationIssueSeverity] = HIGH
    template: ClassVar[str] = "logsource must be product: aws, service: cloudtrail (not {logsource})"
    near: ClassVar[tuple[tuple[str, ...], ...]] = (("logsource:",),)
    logsource: str


@dataclass
class SnaptrailUnknownEventIssue(SnaptrailIssue):
    description: ClassVar[str] = "The rule selects no event of snaptrail's CloudTrail registry"
    severity: ClassVar[SigmaValidationIssueSeverity] = HIGH
    template: ClassVar[str] = "no event {events} is in the CloudTrail registry{hint}"
    near: ClassVar[tuple[tuple[str, ...], ...]] = (("eventName",),)
    events: str
    hint: str


@dataclass
class SnaptrailUnknownFieldIssue(SnaptrailIssue):
    description: ClassVar[str] = "Field is not a CloudTrail path of the rule's events in snaptrail's registry"
    severity: ClassVar[SigmaValidationIssueSeverity] = HIGH
    template: ClassVar[str] = "field '{field}' is not a CloudTrail path of {events} in the registry; {hint}"
    near: ClassVar[tuple[tuple[str, ...], ...]] = (("{field}",),)
    field: str
    events: str
    hint: str


@dataclass
class SnaptrailEnumValueIssue(SnaptrailIssue):
    description: ClassVar[str] = "Value CloudTrail never writes in this field (its values are case-exact)"
    severity: ClassVar[SigmaValidationIssueSeverity] = HIGH
    template: ClassVar[str] = "'{value}' is not a value CloudTrail writes in {field}: {allowed}{hint}"
    # The value as written after its key or as a list item, before any other mention of it.
    near: ClassVar[tuple[tuple[str, ...], ...]] = ((": {value}",), ("- {value}",), ("{value}",))
    field: str
    value: str
    allowed: list[str]
    hint: str


@dataclass
class SnaptrailFailedCallsIssue(SnaptrailIssue):
    description: ClassVar[str] = (
        "the rule does not exclude failed calls (errorCode); only successful calls may alert"
    )
    severity: ClassVar[SigmaValidationIssueSeverity] = HIGH
    near: ClassVar[tuple[tuple[str, ...], ...]] = (("detection:",),)


@dataclass
class SnaptrailMissingAttributeIssue(SnaptrailIssue):
    description: ClassVar[str] = "Rule lacks an attribute snaptrail requires"
    severity: ClassVar[SigmaValidationIssueSeverity] = MEDIUM
    template: ClassVar[str] = "missing '{attribute}'{found_hint}"
    near: ClassVar[tuple[tuple[str, ...], ...]] = (("{found}:",),)
    attribute: str
    found: str  # a custom attribute that looks like a misspelling of it, or ""

    @property
    def found_hint(self) -> str:
        return f" (found '{self.found}': misspelt?)" if self.found else ""

    @property
    def message(self) -> str:
        return self.template.format(attribute=self.attribute, found_hint=self.found_hint)

    def locate(self) -> list[tuple[str, ...]]:
        return super().locate() if self.found else []  # a missing attribute has no line of its own


@dataclass
class SnaptrailUnknownAttributeIssue(SigmahqUnknownFieldIssue):
    description: ClassVar[str] = "Rule uses an attribute that neither Sigma nor snaptrail defines"


@dataclass
class SnaptrailNoTechniqueIssue(SnaptrailIssue):
    description: ClassVar[str] = "no ATT&CK technique tag"
    severity: ClassVar[SigmaValidationIssueSeverity] = MEDIUM
    near: ClassVar[tuple[tuple[str, ...], ...]] = (("tags:",),)


@dataclass
class SnaptrailUnpinnedAttackTagIssue(SnaptrailIssue):
    description: ClassVar[str] = (
        "ATT&CK tag not in snaptrail's pinned ATT&CK table (snaptrail/data/attack_enterprise.json)"
    )
    severity: ClassVar[SigmaValidationIssueSeverity] = MEDIUM
    template: ClassVar[str] = (
        "{tag} is in ATT&CK {loaded} but not in the pinned ATT&CK {pinned}, which snaptrail's docs, "
        "layers and packages use; update snaptrail/data/attack_enterprise.json"
    )
    near: ClassVar[tuple[tuple[str, ...], ...]] = (("{tag}",),)
    tag: str
    pinned: str
    loaded: str


@dataclass
class SnaptrailMissingFixtureIssue(SnaptrailIssue):
    description: ClassVar[str] = "Rule lacks a positive fixture or a negative look-alike in cases.yml"
    severity: ClassVar[SigmaValidationIssueSeverity] = MEDIUM
    template: ClassVar[str] = "no {kind} (expect: {expect})"
    kind: str  # positive fixture | negative look-alike fixture
    expect: str  # match | no_match


@dataclass
class SnaptrailFixtureProblemIssue(SnaptrailIssue):
    """Located in the cases.yml, not in the rule file."""

    description: ClassVar[str] = "A cases.yml declaration for this rule is malformed"
    severity: ClassVar[SigmaValidationIssueSeverity] = MEDIUM
    template: ClassVar[str] = "{problem}"
    cases_file: str
    line: int
    problem: str


# ---- reading a parsed rule --------------------------------------------------------------------------
def detection_items(rule: SigmaRule) -> Iterator[SigmaDetectionItem]:
    """Every detection item of every detection, nested ones included."""

    def walk(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
        for item in detection.detection_items:
            yield from walk(item) if isinstance(item, SigmaDetection) else (item,)

    for detection in rule.detection.detections.values():
        yield from walk(detection)


def item_fields(item: SigmaDetectionItem) -> Iterator[str]:
    """The fields a detection item names: its own and those its |fieldref values compare with."""
    if item.field is not None:
        yield item.field
    yield from (value.field for value in item.value if isinstance(value, SigmaFieldReference))


def exact_value(value: SigmaType) -> str | None:
    """The value as CloudTrail would have to write it, or None for a pattern (wildcards from
    contains/startswith/endswith, placeholders, regular expressions, CIDR, field references)."""
    if isinstance(value, SigmaString):
        if value.contains_special() or value.contains_placeholder():
            return None
        return value.to_plain()
    if isinstance(value, SigmaNumber):
        return str(value.to_plain())
    return None


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def case_hint(written: str, known: Iterable[str]) -> str:
    """Same letters, other case or separators: the SigmaHQ `createVolumePermission` slip."""
    close = sorted(value for value in known if _letters(value) == _letters(written))
    return f" (CloudTrail writes '{close[0]}', case-exact)" if close else ""


@dataclass(frozen=True)
class RuleEvents:
    """The registry's view of the events a rule selects (its eventSource and eventName values)."""

    names: tuple[str, ...]
    sources: tuple[str, ...]
    specs: tuple[EventSpec, ...]

    @property
    def unknown(self) -> bool:
        """The rule names events, and the registry has none of them: its fields cannot be judged."""
        return bool(self.names) and not self.specs

    @property
    def selected(self) -> str:
        return f"{sorted(self.names)} of {sorted(self.sources) or 'any source'}"

    @property
    def label(self) -> str:
        return ", ".join(f"{spec.event_source} {spec.event_name}" for spec in self.specs) or "any event"

    @property
    def fields(self) -> dict[str, CloudTrailPath]:
        known = dict(registry().envelope)
        for spec in self.specs:
            known.update(spec.fields)
        return known

    @property
    def values(self) -> dict[str, set[str]]:
        enums = {field: set(values) for field, values in registry().envelope_values.items()}
        for spec in self.specs:
            for field, values in spec.values.items():
                enums.setdefault(field, set()).update(values)
        return enums


def _selects(actual: str, patterns: tuple[str, ...]) -> bool:
    # A rule without eventName (or eventSource) values selects any; wildcards match as in Sigma.
    return not patterns or any(fnmatch.fnmatchcase(actual, pattern) for pattern in patterns)


def rule_events(rule: SigmaRule) -> RuleEvents:
    wanted: dict[str, list[str]] = {"eventSource": [], "eventName": []}
    for item in detection_items(rule):
        if item.field in wanted:
            wanted[item.field].extend(str(value) for value in item.value if isinstance(value, SigmaString))
    names, sources = tuple(wanted["eventName"]), tuple(wanted["eventSource"])
    specs = tuple(
        spec
        for (source, name), spec in sorted(registry().events.items())
        if _selects(name, names) and _selects(source, sources)
    )
    return RuleEvents(names, sources, specs)


def _field_hint(field: str) -> str:
    try:
        registry().resolve(field)
    except UnknownFieldError as error:
        return error.hint
    return "the registry has it for other events; add it under this rule's event if CloudTrail writes it"


def missing_attributes(rule: AnyRule) -> set[str]:
    """The attributes some validator requires that the rule lacks: pySigma's parser (title,
    logsource, detection), core (id), SigmaHQ (status, level, description, author, date), snaptrail
    (references, falsepositives, triage, an ATT&CK tag)."""
    values: dict[str, Any] = {
        "title": rule.title, "id": rule.id, "status": rule.status, "level": rule.level,
        "description": rule.description, "author": rule.author, "date": rule.date,
        "references": rule.references, "falsepositives": rule.falsepositives, "tags": rule.tags,
        "triage": str(rule.custom_attributes.get("triage") or "").strip(),
    }  # fmt: skip
    if isinstance(rule, SigmaRule):
        values.update(logsource=rule.logsource, detection=rule.detection)
    return {name for name, value in values.items() if not value}


def misspelling_of(attribute: str, candidates: Iterable[str]) -> str:
    """The candidate `attribute` looks like a misspelling of, or ""."""
    close = difflib.get_close_matches(attribute, list(candidates), n=1, cutoff=0.8)
    return close[0] if close else ""


# ---- validators -------------------------------------------------------------------------------------
def reads_cloudtrail(rule: AnyRule) -> bool:
    """A rule of another logsource is one defect (snaptrail_logsource's), not one per field."""
    if isinstance(rule, SigmaCorrelationRule):
        return True
    return rule.logsource.product == "aws" and rule.logsource.service == "cloudtrail"


class SnaptrailLogsourceValidator(SigmaRuleValidator):
    """Checks that a rule reads AWS CloudTrail (logsource product aws, service cloudtrail)."""

    def validate(self, rule: AnyRule) -> list[SigmaValidationIssue]:
        if isinstance(rule, SigmaCorrelationRule):
            return []  # a chain reads the logsources of its rules
        logsource = rule.logsource
        if logsource.product == "aws" and logsource.service == "cloudtrail":
            return []
        written = ", ".join(
            f"{key}: {value}"
            for key, value in (("product", logsource.product), ("category", logsource.category),
                               ("service", logsource.service))
            if value
        )  # fmt: skip
        return [SnaptrailLogsourceIssue([rule], written or "none")]


class SnaptrailFieldValidator(SigmaRuleValidator):
    """Checks that every field a rule or chain names is a CloudTrail path of its events in
    snaptrail's registry (snaptrail/cloudtrail/registry)."""

    def validate(self, rule: AnyRule) -> list[SigmaValidationIssue]:
        if isinstance(rule, SigmaCorrelationRule):
            return self._chain(rule)
        if not reads_cloudtrail(rule):
            return []
        events = rule_events(rule)
        if events.unknown:
            # Without events no field can be judged: this is the rule's one registry issue.
            names = {spec.event_name for spec in registry().events.values()}
            hints = {case_hint(name, names) for name in events.names} - {""}
            return [SnaptrailUnknownEventIssue([rule], events.selected, "".join(sorted(hints)))]
        known = events.fields
        named = dict.fromkeys(field for item in detection_items(rule) for field in item_fields(item))
        return [
            SnaptrailUnknownFieldIssue([rule], field, events.label, _field_hint(field))
            for field in named  # each field once, in the order the rule names them
            if field not in known
        ]

    @staticmethod
    def _chain(rule: SigmaCorrelationRule) -> list[SigmaValidationIssue]:
        """group-by and condition fields, through the aliases, in each rule the chain reads."""
        aliases = {
            alias.alias: {reference.reference: field for reference, field in alias.mapping.items()}
            for alias in rule.aliases
        }
        fieldref = getattr(rule.condition, "fieldref", None) or []
        names = [*(rule.group_by or []), *([fieldref] if isinstance(fieldref, str) else fieldref)]
        issues: list[SigmaValidationIssue] = []
        for reference in rule.rules or []:
            target = getattr(reference, "rule", None)  # set once references are resolved
            if not isinstance(target, SigmaRule):
                continue  # unresolved, or a chain of chains: that chain's fields are checked on it
            events = rule_events(target)
            if events.unknown:
                continue  # reported on the rule itself
            known = events.fields
            for name in names:
                field = aliases.get(name, {}).get(reference.reference, name)
                if field not in known:
                    where = f"{events.label} (rule '{target.title}')"
                    issues.append(SnaptrailUnknownFieldIssue([rule], field, where, _field_hint(field)))
        return issues


class SnaptrailValueValidator(SigmaRuleValidator):
    """Checks that a value of an enum-like CloudTrail field is one CloudTrail writes, exactly as it
    writes it (the registry's `values`); patterns are not judged."""

    def validate(self, rule: AnyRule) -> list[SigmaValidationIssue]:
        if isinstance(rule, SigmaCorrelationRule) or not reads_cloudtrail(rule):
            return []
        events = rule_events(rule)
        if events.unknown:
            return []  # snaptrail_field reports the unknown events
        enums = events.values
        issues: list[SigmaValidationIssue] = []
        for item in detection_items(rule):
            allowed = enums.get(item.field or "")
            if not allowed:
                continue
            for value in item.value:
                written = exact_value(value)
                if written is not None and written not in allowed:
                    hint = case_hint(written, allowed)
                    issues.append(
                        SnaptrailEnumValueIssue([rule], str(item.field), written, sorted(allowed), hint)
                    )
        return issues


class SnaptrailSuccessfulCallsValidator(SigmaRuleValidator):
    """Checks that a rule names errorCode: it excludes failed calls (`not failed` with
    `errorCode|exists: true`), or it is about failures. Only successful calls may alert."""

    def validate(self, rule: AnyRule) -> list[SigmaValidationIssue]:
        if isinstance(rule, SigmaCorrelationRule) or not reads_cloudtrail(rule):
            return []  # a chain's rules exclude failed calls; another logsource is one defect already
        if any(field == "errorCode" for item in detection_items(rule) for field in item_fields(item)):
            return []
        return [SnaptrailFailedCallsIssue([rule])]


class SnaptrailMetadataValidator(SigmaRuleValidator):
    """Checks the attributes snaptrail requires and neither pySigma nor SigmaHQ does: references,
    falsepositives and the `triage` custom attribute (the analyst's first steps)."""

    def validate(self, rule: AnyRule) -> list[SigmaValidationIssue]:
        issues: list[SigmaValidationIssue] = []
        for attribute in sorted(set(SNAPTRAIL_REQUIRED) & missing_attributes(rule)):
            found = misspelling_of(attribute, rule.custom_attributes)
            if found and found in CustomAttributesValidator.known_custom_attributes:
                continue  # core `custom_attributes` reports this misspelling (e.g. `reference`)
            issues.append(SnaptrailMissingAttributeIssue([rule], attribute, found))
        return issues


class SnaptrailUnknownAttributeValidator(SigmahqUnknownFieldValidator):
    """SigmaHQ's sigmahq_unknown_field for snaptrail rules: `triage` is known, and a misspelt required
    attribute is left to the issue that the attribute is missing (one issue per defect)."""

    def validate(self, rule: AnyRule) -> list[SigmaValidationIssue]:
        missing = missing_attributes(rule)
        issues: list[SigmaValidationIssue] = []
        for issue in super().validate(rule):
            unknown = [
                name
                for name in getattr(issue, "fieldname", [])
                if name not in CUSTOM_ATTRIBUTES
                and name not in CustomAttributesValidator.known_custom_attributes  # core reports these
                and not misspelling_of(name, missing)
            ]
            if unknown:
                issues.append(SnaptrailUnknownAttributeIssue([rule], unknown))
        return issues


class SnaptrailMitreLinkValidator(SigmahqMitreLinkValidator):
    """SigmaHQ's sigmahq_mitre_link, except links to ATT&CK pages no tag can name (detection
    strategies, analytics, data components)."""

    def validate(self, rule: AnyRule) -> list[SigmaValidationIssue]:
        return [
            issue
            for issue in super().validate(rule)
            if not isinstance(issue, SigmahqMitreLinkIssue)
            or not any(page in issue.link for page in UNTAGGABLE_ATTACK_PAGES)
        ]


class SnaptrailAttackValidator(SigmaRuleValidator):
    """Checks that a rule names an ATT&CK technique, and that its ATT&CK tags are in snaptrail's pinned
    ATT&CK table. Tags ATT&CK does not know at all are core attacktag's to report."""

    def validate(self, rule: AnyRule) -> list[SigmaValidationIssue]:
        attack = parse_attack_tags(f"{tag.namespace}.{tag.name}" for tag in rule.tags)
        issues: list[SigmaValidationIssue] = []
        if not attack.techniques and not attack.unknown_techniques:
            issues.append(SnaptrailNoTechniqueIssue([rule]))
        unpinned = [f"attack.{t.lower()}" for t in attack.unknown_techniques]
        unpinned += [f"attack.{t}" for t in attack.unknown_tactics]
        if unpinned:
            # The ATT&CK data pySigma loaded: the pinned table under `snaptrail check` (so nothing is
            # reported here), MITRE's current release under `sigma check`.
            loaded = ATTACKTagValidator()._load_allowed_tags()
            version, pinned = str(mitre_attack.mitre_attack_version), str(attack_data()["version"])
            issues += [
                SnaptrailUnpinnedAttackTagIssue([rule], tag, pinned, version)
                for tag in unpinned
                if tag.removeprefix("attack.") in loaded
            ]
        return issues


class SnaptrailFixturesValidator(SigmaRuleValidator):
    """Checks that each rule and chain has a positive fixture and a negative look-alike declared in a
    cases.yml under the fixture folder. Configure the folder as `root` (validation config:
    `config: {snaptrail_fixtures: {root: tests/fixtures}}`); without it this validator checks nothing,
    as rules checked outside the repository have no fixtures."""

    def __init__(self, root: str | None = None, fixtures: Fixtures | None = None) -> None:
        # `fixtures`: already loaded declarations (snaptrail check reads them once for all checks).
        self._fixtures = fixtures if fixtures is not None else load_fixtures([Path(root)]) if root else None

    def validate(self, rule: AnyRule) -> list[SigmaValidationIssue]:
        if self._fixtures is None:
            return []
        rule_id = str(rule.id)
        problems = [problem for problem in self._fixtures.problems if problem.rule_id == rule_id]
        if problems:
            # A malformed declaration is dropped by the reader, so it would also read as a missing
            # fixture: the problem is its one issue.
            return [
                SnaptrailFixtureProblemIssue([rule], str(problem.file), problem.line, problem.message)
                for problem in problems
            ]
        cases = self._fixtures.for_rule(rule_id)
        matches = {bool(case.expect) if isinstance(case, ChainCase) else case.expect_match for case in cases}
        return [
            SnaptrailMissingFixtureIssue([rule], kind, expect)
            for kind, expect, declared in (
                ("positive fixture", "match", True),
                ("negative look-alike fixture", "no_match", False),
            )
            if declared not in matches
        ]


SNAPTRAIL_VALIDATORS: tuple[type[SigmaRuleValidator], ...] = (
    SnaptrailLogsourceValidator,
    SnaptrailFieldValidator,
    SnaptrailValueValidator,
    SnaptrailSuccessfulCallsValidator,
    SnaptrailMetadataValidator,
    SnaptrailUnknownAttributeValidator,
    SnaptrailMitreLinkValidator,
    SnaptrailAttackValidator,
    SnaptrailFixturesValidator,
)
# The registry pySigma's plugin discovery reads from `sigma.validators.snaptrail`.
validators: dict[str, type[SigmaRuleValidator]] = {
    validator_classname_to_identifier(cls.__name__): cls for cls in SNAPTRAIL_VALIDATORS
}
