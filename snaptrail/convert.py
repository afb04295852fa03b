"""Rules -> pySigma -> one query per rule per target. Everything that compiles goes through here."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import SetStateTransformation, ValueListPlaceholderTransformation
from sigma.rule import SigmaDetection, SigmaRule
from sigma.types import Placeholder, SigmaString

from sigma.filters import SigmaFilter
from snaptrail.backends import TARGETS
from snaptrail.backends.errors import TargetLimitation, describe_rule
from snaptrail.config import Config

RULE_SUFFIXES = (".yml", ".yaml")


class RuleLoadError(Exception):
    """A rule file that is not valid Sigma; the message names every file and problem."""


@dataclass(frozen=True)
class Conversion:
    target: str
    rule_id: str
    title: str
    source: str  # rule file
    query: str | None
    error: str | None = None
    limitation: bool = False  # the target cannot express the rule exactly (raised on purpose)
    chain: bool = False  # a Sigma correlation rule: its query returns alerts with event_ids

    @property
    def ok(self) -> bool:
        return self.query is not None


def rule_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise RuleLoadError(f"{path}: no such file or folder")
    return files


def filter_placeholders(sigma_filter: SigmaFilter) -> set[str]:
    """The %placeholders% a filter's values refer to."""
    names: set[str] = set()

    def walk(detection: SigmaDetection) -> None:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                walk(item)
                continue
            for value in item.value:
                if isinstance(value, SigmaString):
                    names.update(part.name for part in value.s if isinstance(part, Placeholder))

    for detection in sigma_filter.filter.detections.values():
        walk(detection)
    return names


@dataclass(frozen=True)
class FilterState:
    title: str
    source: str
    active: bool
    reason: str


def load_rules(
    paths: Sequence[Path], filter_paths: Sequence[Path] = (), config: Config | None = None
) -> tuple[SigmaCollection, list[FilterState]]:
    """Parse rule (and filter) files; every malformed file is reported, none is skipped.

    A filter whose allowlists are all empty in the config is left out: an empty value list must
    never compile into a condition, and without values the filter has nothing to remove."""
    files = rule_files(paths) + (rule_files(filter_paths) if filter_paths else [])
    if not rule_files(paths):
        raise RuleLoadError(f"no Sigma rule files (.yml/.yaml) under {', '.join(map(str, paths))}")
    documents: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = []
    problems = []
    for file in files:
        try:
            part = SigmaCollection.from_yaml(
                file.read_text(encoding="utf-8"),
                collect_errors=True,
                source=SigmaRuleLocation(file),
                collect_filters=True,
                resolve_references=False,  # correlations name rules in other files: resolved below
            )
        except (OSError, SigmaError, yaml.YAMLError) as error:
            problems.append(f"{file}: {error}")
            continue
        documents.extend([*part.rules, *part.filters])
        problems.extend(f"{file}: {error}" for error in part.errors)
    collection = SigmaCollection(documents, collect_filters=True, resolve_references=False)
    for rule in [*collection, *collection.filters]:
        for error in rule.errors:
            problems.append(f"{rule.source.path if rule.source else '?'}: {error}")
    if problems:
        raise RuleLoadError("invalid Sigma rules:\n  " + "\n  ".join(problems))
    values = config.placeholders() if config else {}
    states: list[FilterState] = []
    active: list[SigmaFilter] = []
    for sigma_filter in collection.filters:
        source = str(sigma_filter.source.path) if sigma_filter.source and sigma_filter.source.path else "?"
        names = filter_placeholders(sigma_filter)
        unknown = sorted(names - set(values))
        if unknown:
            raise RuleLoadError(
                f"{source}: filter '{sigma_filter.title}' uses unknown placeholder(s) {unknown}"
            )
        empty = sorted(name for name in names if not values[name])
        if empty:
            states.append(FilterState(sigma_filter.title, source, False, f"empty allowlist(s) {empty}"))
            continue
        states.append(FilterState(sigma_filter.title, source, True, "active"))
        active.append(sigma_filter)
    if active:
        # pySigma's apply_filters inserts the *same* detection objects into every rule a filter
        # applies to; pipelines rename fields in place, so the second rule would see mapped names.
        # Each rule gets its own copy of each filter.
        collection.rules = [
            functools.reduce(lambda r, f: copy.deepcopy(f).apply_on_rule(r), active, rule)
            for rule in collection.rules
        ]
    dangling = []
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(collection)
            except SigmaError as error:
                dangling.append(f"{rule.source.path if rule.source else '?'}: chain '{rule.title}': {error}")
    if dangling:
        raise RuleLoadError("chains that name missing rules:\n  " + "\n  ".join(dangling))
    return collection, states


def config_pipeline(config: Config | None) -> ProcessingPipeline:
    """What snaptrail.yml changes in every query: the filters' %placeholders% from the allowlists,
    and the Elastic index patterns (the Lucene/EQL/ES|QL backends read pipeline state `index`)."""
    items = [ProcessingItem(ValueListPlaceholderTransformation(), identifier="snaptrail_allowlists")]
    index = (config.section("elastic").get("index") if config else None) or None
    if index:
        patterns = [index] if isinstance(index, str) else [str(pattern) for pattern in index]
        items.append(
            ProcessingItem(SetStateTransformation("index", ",".join(patterns)), identifier="snaptrail_index")
        )
    return ProcessingPipeline(
        name="snaptrail: settings from snaptrail.yml",
        priority=10,
        items=items,
        vars=config.placeholders() if config else {},
    )


def convert(
    paths: Sequence[Path], target: str, config: Config | None = None, filter_paths: Sequence[Path] = ()
) -> list[Conversion]:
    """Compile every rule under `paths` for one target, with the active filters applied. Pipelines
    change rules in place, so each target gets its own freshly parsed collection."""
    if target not in TARGETS:
        raise ValueError(f"unknown target '{target}'; choose one of: {', '.join(TARGETS)}")
    collection, _ = load_rules(paths, filter_paths, config)
    spec = TARGETS[target]
    # The target's own pipeline sets its default index; the configuration comes after it.
    backend = spec.backend(processing_pipeline=spec.pipeline() + config_pipeline(config))
    results = []
    for rule in sorted(collection, key=lambda r: isinstance(r, SigmaCorrelationRule)):
        # Base rules first: a chain reads its steps' compiled queries.
        source = str(rule.source.path) if rule.source and rule.source.path else "?"
        is_chain = isinstance(rule, SigmaCorrelationRule)
        try:
            if is_chain:
                queries = backend.convert_correlation_rule(rule)
            else:
                queries = backend.convert_rule(rule)
        except TargetLimitation as error:
            results.append(
                Conversion(target, str(rule.id), rule.title, source, None, str(error), True, is_chain)
            )
            continue
        except SigmaError as error:
            message = str(error)
            if str(rule.id) not in message:
                message = f"{describe_rule(rule)}: {message}"
            results.append(
                Conversion(target, str(rule.id), rule.title, source, None, message, chain=is_chain)
            )
            continue
        if not queries and not rule._output:
            continue  # referenced by a chain with `generate: false`: not a detection on its own
        if len(queries) != 1:
            results.append(
                Conversion(
                    target,
                    str(rule.id),
                    rule.title,
                    source,
                    None,
                    f"{describe_rule(rule)}: expected one query, the backend produced {len(queries)}",
                )
            )
            continue
        results.append(Conversion(target, str(rule.id), rule.title, source, str(queries[0]), chain=is_chain))
    return results
