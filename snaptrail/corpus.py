"""The rule corpus, loaded once, and its compiled table: rules -> pySigma -> one query per rule per target.

`Corpus.load` parses every rule and filter file exactly once into one `SigmaCollection`, applies the
active filters (driven by snaptrail.yml), and resolves chain references. Everything else reads it:
`RuleInfo` views read the parsed `SigmaRule` (never the YAML again), and `Corpus.compiled(target)`
converts a copy of the collection per target (pipelines rename fields in place) once, cached. The
build, `scan`, `check`, `convert`, the docs and the tests all use this table.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaConfigurationError, SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from snaptrail import yaml_text
from snaptrail.attack import Tactic, Technique, parse_attack_tags
from snaptrail.backends import TARGETS
from snaptrail.backends.errors import TargetLimitation, describe_rule
from snaptrail.backends.plugin import filter_activity, settings_pipeline
from snaptrail.config import Config

RULE_SUFFIXES = (".yml", ".yaml")
# Sigma's levels, lowest first: the one ordering every packager and check uses.
LEVELS = ("informational", "low", "medium", "high", "critical")

AnyRule = SigmaRule | SigmaCorrelationRule


@dataclass(frozen=True)
class LoadProblem:
    """One file (or chain) the loader could not take, and why."""

    file: str
    line: int  # 0 when the parser does not say
    rule_id: str  # "?" when no rule could be read
    title: str
    kind: str  # "read", "yaml", a pySigma error class name, "chain-reference", "filter"
    message: str

    def text(self) -> str:
        return f"{self.file}{f':{self.line}' if self.line else ''}: {self.message}"


class RuleLoadError(Exception):
    """Rule files that are not valid Sigma; the message names every file and problem."""

    def __init__(self, message: str, problems: Sequence[LoadProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


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


def source_of(rule: AnyRule | SigmaFilter) -> str:
    return str(rule.source.path) if rule.source is not None and rule.source.path is not None else "?"


@dataclass(frozen=True)
class FilterState:
    title: str
    source: str
    active: bool
    reason: str


@dataclass(frozen=True)
class RuleInfo:
    """What packagers and docs read of a rule, taken from the parsed SigmaRule."""

    id: str
    title: str
    name: str  # file stem: stable, readable identifier for files and saved searches
    family: str  # folder under sigma/rules
    path: str  # relative to the repository
    level: str
    status: str
    description: str
    triage: str
    falsepositives: tuple[str, ...]
    references: tuple[str, ...]
    author: str
    date: str
    modified: str
    tags: tuple[str, ...]
    techniques: tuple[Technique, ...]
    tactics: tuple[Tactic, ...]
    correlation_type: str | None  # temporal_ordered, event_count, ... for chains
    window_seconds: int | None  # a chain's correlation timespan in seconds

    @property
    def level_rank(self) -> int:
        return LEVELS.index(self.level)

    @property
    def is_chain(self) -> bool:
        return self.correlation_type is not None


def _display_path(path: Path, rules_root: Path | None) -> str:
    """The rule file relative to the folder holding the rules root's parent (the repository for
    sigma/rules), so artifacts never depend on where the checkout lives."""
    if rules_root is None:
        return str(path)
    try:
        return str(path.resolve().relative_to(rules_root.resolve().parent.parent))
    except ValueError:
        return str(path)


def rule_info(rule: AnyRule, rules_root: Path | None = None) -> RuleInfo:
    path = Path(source_of(rule))
    tags = tuple(f"{tag.namespace}.{tag.name}" for tag in rule.tags)
    attack = parse_attack_tags(tags)
    is_chain = isinstance(rule, SigmaCorrelationRule)
    triage = rule.custom_attributes.get("triage", "")
    return RuleInfo(
        id=str(rule.id),
        title=rule.title,
        name=path.stem,
        family=path.parent.name,
        path=_display_path(path, rules_root),
        level=rule.level.name.lower() if rule.level else "",
        status=rule.status.name.lower() if rule.status else "",
        description=str(rule.description or "").strip(),
        triage=str(triage or "").strip(),
        falsepositives=tuple(str(f) for f in rule.falsepositives or []),
        references=tuple(str(r) for r in rule.references or []),
        author=str(rule.author or ""),
        date=rule.date.isoformat() if rule.date else "",
        modified=rule.modified.isoformat() if rule.modified else "",
        tags=tags,
        techniques=attack.techniques,
        tactics=attack.tactics,
        correlation_type=str(rule.type) if is_chain else None,  # type: ignore[union-attr]
        window_seconds=int(rule.timespan.seconds) if is_chain else None,  # type: ignore[union-attr]
    )


@dataclass(frozen=True)
class Conversion:
    """One rule on one target: its query, or why the target cannot express it."""

    target: str
    rule_id: str
    title: str
    level: str
    source: str  # rule file
    query: str | None
    error: str | None = None
    limitation: bool = False  # the target cannot express the rule exactly (raised on purpose)
    chain: bool = False  # a Sigma correlation rule: its query returns alerts with event_ids

    @property
    def ok(self) -> bool:
        return self.query is not None


def config_pipeline(config: Config | None) -> ProcessingPipeline:
    """What snaptrail.yml changes in every query (the allowlists for the filters' %placeholders%, the
    Elastic index): the same pipeline the sigma-cli backends complete theirs with."""
    config = config if config is not None else Config()
    return settings_pipeline(config, str(config.path) if config.path else "snaptrail's default settings")


_UNDEFINED_DETECTION = re.compile(r"Detection '([^']+)' not defined")


def with_condition_hint(rule: AnyRule, message: str) -> str:
    """A condition naming a detection the rule does not define gets the nearest defined names."""
    match = _UNDEFINED_DETECTION.search(message)
    if match is None or not isinstance(rule, SigmaRule):
        return message
    close = difflib.get_close_matches(match[1], list(rule.detection.detections), n=1)
    return f"{message}; did you mean '{close[0]}'?" if close else message


def _error_message(error: Exception) -> str:
    # SigmaError's str() appends the absolute source path; a LoadProblem names the file already.
    return str(error.args[0]) if error.args else str(error)


def _parse_file(file: Path) -> tuple[list[AnyRule | SigmaFilter], list[LoadProblem]]:
    """One file parsed once: its documents, or the problems that make the whole file unusable."""
    where = str(file)
    try:
        part = SigmaCollection.from_dicts(
            yaml_text.load_all(file.read_text(encoding="utf-8")),
            collect_errors=True,
            source=SigmaRuleLocation(file),
            collect_filters=True,
            resolve_references=False,  # correlations name rules in other files: resolved later
        )
    except (OSError, UnicodeDecodeError) as error:
        return [], [LoadProblem(where, 0, "?", "?", "read", f"cannot read: {error}")]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        return [], [LoadProblem(where, line, "?", "?", "yaml", f"not valid YAML: {error}")]
    except SigmaError as error:
        return [], [LoadProblem(where, 0, "?", "?", type(error).__name__, _error_message(error))]
    documents: list[AnyRule | SigmaFilter] = [*part.rules, *part.filters]
    problems = []
    for document in documents:
        for error in document.errors:
            line = error.source.line if error.source is not None and error.source.line else 0
            rule_id = str(document.id) if document.id else "?"
            title = str(document.title) if document.title else "?"
            problems.append(
                LoadProblem(where, line, rule_id, title, type(error).__name__, _error_message(error))
            )
    # The collection repeats its documents' errors without naming the rule: keep only the others.
    named = {problem.message for problem in problems}
    problems += [
        LoadProblem(where, 0, "?", "?", type(error).__name__, _error_message(error))
        for error in part.errors
        if _error_message(error) not in named
    ]
    return documents, list(dict.fromkeys(problems))


def _applies(sigma_filter: SigmaFilter, rule: AnyRule) -> bool:
    """Whether pySigma's apply_on_rule would change the rule (its own test, where this pySigma has
    it; else assume it applies and let apply_on_rule decide)."""
    should_apply = getattr(sigma_filter, "_should_apply_on_rule", None)
    return bool(should_apply(rule)) if callable(should_apply) else True


def _dangling(
    chains: list[SigmaCorrelationRule], collection: SigmaCollection
) -> list[tuple[SigmaCorrelationRule, str]]:
    found = []
    for chain in chains:
        try:
            chain.resolve_rule_references(collection)
        except SigmaError as error:
            found.append((chain, _error_message(error)))
    return found


@dataclass
class Corpus:
    """Rules and filters, parsed once, filters applied; and their compiled table, per target."""

    rule_paths: tuple[Path, ...]
    filter_paths: tuple[Path, ...]
    config: Config | None
    collection: SigmaCollection
    filters: list[FilterState]
    # With keep_going: what could not be loaded, and the ids of rules left out because of it.
    problems: list[LoadProblem] = field(default_factory=list)
    unloaded_ids: set[str] = field(default_factory=set)
    _compiled: dict[str, dict[str, Conversion]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        rule_paths: Sequence[Path],
        filter_paths: Sequence[Path] = (),
        config: Config | None = None,
        keep_going: bool = False,
    ) -> Corpus:
        """Every file parsed once. A file with any problem is left out whole; a chain naming a rule
        that is not loaded is left out too. Without `keep_going` any problem is a RuleLoadError
        naming every one; with it, the rest is loaded and the problems are kept in `problems`.

        A filter whose allowlists are all empty in the config is left out: an empty value list
        must never compile into a condition, and without values the filter has nothing to remove."""
        files = rule_files(rule_paths)
        if not files:
            raise RuleLoadError(f"no Sigma rule files (.yml/.yaml) under {', '.join(map(str, rule_paths))}")
        documents: list[AnyRule | SigmaFilter] = []
        unloaded: list[AnyRule | SigmaFilter] = []
        problems: list[LoadProblem] = []
        for file in files + rule_files(filter_paths):
            file_documents, file_problems = _parse_file(file)
            (unloaded if file_problems else documents).extend(file_documents)
            problems.extend(file_problems)
        documents, dangling = cls._drop_dangling_chains(documents, unloaded)
        problems.extend(dangling)
        if problems and not keep_going:
            raise RuleLoadError(
                "invalid Sigma rules:\n  " + "\n  ".join(problem.text() for problem in problems), problems
            )
        collection = SigmaCollection(documents, collect_filters=True, resolve_references=False)
        states = cls._apply_filters(collection, config)
        for rule in collection.rules:
            if isinstance(rule, SigmaCorrelationRule):
                rule.resolve_rule_references(collection)
        unloaded_ids = {str(document.id) for document in unloaded if document.id}
        return cls(tuple(rule_paths), tuple(filter_paths), config, collection, states, problems, unloaded_ids)

    @staticmethod
    def _drop_dangling_chains(
        documents: list[AnyRule | SigmaFilter], unloaded: list[AnyRule | SigmaFilter]
    ) -> tuple[list[AnyRule | SigmaFilter], list[LoadProblem]]:
        """Chains whose steps are not all loaded, removed until none is left. A chain whose step sits
        in a file that failed to load is no defect of its own (that file's problem is); otherwise
        the chain's reference is the problem."""
        problems: list[LoadProblem] = []

        def rules_only(items: list[AnyRule | SigmaFilter]) -> SigmaCollection:
            # Filters stay out: a SigmaCollection that is not collecting filters applies them.
            rules = [item for item in items if not isinstance(item, SigmaFilter)]
            return SigmaCollection(rules, resolve_references=False)  # type: ignore[arg-type]

        everything = rules_only([*documents, *unloaded])
        while True:
            chains = [d for d in documents if isinstance(d, SigmaCorrelationRule)]
            dangling = _dangling(chains, rules_only(documents))
            if not dangling:
                return documents, problems
            genuine = {id(chain) for chain, _ in _dangling([chain for chain, _ in dangling], everything)}
            for chain, message in dangling:
                unloaded.append(chain)
                if id(chain) in genuine:
                    problems.append(
                        LoadProblem(source_of(chain), 0, str(chain.id), chain.title, "chain-reference",
                                    f"chain '{chain.title}': {message}")
                    )  # fmt: skip
            dropped = {id(chain) for chain, _ in dangling}
            documents = [d for d in documents if id(d) not in dropped]

    @staticmethod
    def _apply_filters(collection: SigmaCollection, config: Config | None) -> list[FilterState]:
        config = config if config is not None else Config()
        name = str(config.path) if config.path else "snaptrail's default settings"
        try:
            activity = filter_activity(list(collection.filters), config.placeholders(), name)
        except SigmaConfigurationError as error:
            raise RuleLoadError(str(error)) from None
        # `trusted_account_ids` is no key of snaptrail.yml: it joins two allowlists, named instead.
        derived = {"trusted_account_ids": "org_account_ids + trusted_partner_account_ids"}
        states: list[FilterState] = []
        active: list[SigmaFilter] = []
        for sigma_filter, empty in activity:
            where = source_of(sigma_filter)
            if empty:
                reason = f"empty allowlist(s) {sorted(derived.get(n, n) for n in empty)}"
                states.append(FilterState(sigma_filter.title, where, False, reason))
            else:
                states.append(FilterState(sigma_filter.title, where, True, "active"))
                active.append(sigma_filter)
        if active:
            # pySigma's apply_filters inserts the *same* detection objects into every rule a filter
            # applies to; pipelines rename fields in place, so the second rule would see mapped
            # names. Each rule gets its own copy of each filter that applies to it (most filters
            # name their rules: copying every filter for every rule was most of loading).
            collection.rules = [
                functools.reduce(lambda r, f: copy.deepcopy(f).apply_on_rule(r) if _applies(f, r) else r,
                                 active, rule)
                for rule in collection.rules
            ]  # fmt: skip
        return states

    # ---- views ------------------------------------------------------------------------------------
    @cached_property
    def rules(self) -> list[RuleInfo]:
        """Every detection (single-event rules and chains), by family then title. A step of a chain
        with `generate: false` (Sigma's default) is no detection on its own: it compiles into its
        chains only."""
        root = self.rule_paths[0] if self.rule_paths else None
        infos = [rule_info(rule, root) for rule in self.collection.rules if rule._output]
        return sorted(infos, key=lambda r: (r.family, r.title))

    @cached_property
    def by_id(self) -> dict[str, AnyRule]:
        return {str(rule.id): rule for rule in self.collection.rules}

    # ---- the compiled table -----------------------------------------------------------------------
    def compiled(self, target: str) -> dict[str, Conversion]:
        """rule id -> conversion for one target, compiled once per corpus."""
        if target not in TARGETS:
            raise ValueError(f"unknown target '{target}'; choose one of: {', '.join(TARGETS)}")
        if target not in self._compiled:
            self._compiled[target] = {c.rule_id: c for c in self._convert(target)}
        return self._compiled[target]

    @property
    def table(self) -> dict[str, dict[str, Conversion]]:
        """target -> rule id -> conversion, for every target."""
        return {target: self.compiled(target) for target in TARGETS}

    def errors(self) -> list[Conversion]:
        """Conversions that failed for a reason other than a declared target limitation."""
        return [
            c for by_rule in self.table.values() for c in by_rule.values() if not c.ok and not c.limitation
        ]

    def _convert(self, target: str) -> list[Conversion]:
        # Pipelines change rules in place, so each target converts its own copy of the collection
        # (one deepcopy keeps the chains' references to their steps inside the copy).
        collection = copy.deepcopy(self.collection)
        spec = TARGETS[target]
        # The target's own pipeline sets its default index; the configuration comes after it.
        backend = spec.backend(processing_pipeline=spec.pipeline() + config_pipeline(self.config))
        results = []
        # Base rules first: a chain reads its steps' compiled queries.
        for rule in sorted(collection, key=lambda r: isinstance(r, SigmaCorrelationRule)):
            results.extend(self._convert_one(backend, target, rule))
        return results

    @staticmethod
    def _convert_one(backend: object, target: str, rule: AnyRule) -> list[Conversion]:
        is_chain = isinstance(rule, SigmaCorrelationRule)
        level = rule.level.name.lower() if rule.level else ""
        common = {"target": target, "rule_id": str(rule.id), "title": rule.title, "level": level}
        source = source_of(rule)
        try:
            if is_chain:
                queries = backend.convert_correlation_rule(rule)  # type: ignore[attr-defined]
            else:
                queries = backend.convert_rule(rule)  # type: ignore[attr-defined]
        except TargetLimitation as error:
            return [Conversion(**common, source=source, query=None, error=str(error), limitation=True,
                               chain=is_chain)]  # fmt: skip
        except SigmaError as error:
            message = with_condition_hint(rule, str(error))
            if str(rule.id) not in message:
                message = f"{describe_rule(rule)}: {message}"
            return [Conversion(**common, source=source, query=None, error=message, chain=is_chain)]
        if not queries and not rule._output:
            return []  # referenced by a chain with `generate: false`: not a detection on its own
        if len(queries) != 1:
            message = f"{describe_rule(rule)}: expected one query, the backend produced {len(queries)}"
            return [Conversion(**common, source=source, query=None, error=message, chain=is_chain)]
        return [Conversion(**common, source=source, query=str(queries[0]), chain=is_chain)]
