"""Rules -> pySigma -> one query per rule per target. Everything that compiles goes through here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from snaptrail.backends import TARGETS, new_backend
from snaptrail.backends.errors import TargetLimitation, describe_rule

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


def load_rules(paths: Sequence[Path]) -> SigmaCollection:
    """Parse rule files; every malformed file is reported, none is skipped."""
    files = rule_files(paths)
    if not files:
        raise RuleLoadError(f"no Sigma rule files (.yml/.yaml) under {', '.join(map(str, paths))}")
    collection = SigmaCollection.load_ruleset(files, collect_errors=True)
    problems = []
    for rule in collection:
        for error in rule.errors:
            problems.append(f"{rule.source.path if rule.source else '?'}: {error}")
    if problems:
        raise RuleLoadError("invalid Sigma rules:\n  " + "\n  ".join(problems))
    collection.resolve_rule_references()
    return collection


def convert(paths: Sequence[Path], target: str) -> list[Conversion]:
    """Compile every rule under `paths` for one target. Pipelines change rules in place, so each
    target gets its own freshly parsed collection."""
    if target not in TARGETS:
        raise ValueError(f"unknown target '{target}'; choose one of: {', '.join(TARGETS)}")
    collection = load_rules(paths)
    backend = new_backend(target)
    results = []
    for rule in collection:
        if not isinstance(rule, SigmaRule):
            continue  # correlation rules: compiled by the chain backends
        source = str(rule.source.path) if rule.source and rule.source.path else "?"
        try:
            queries = backend.convert_rule(rule)
        except TargetLimitation as error:
            results.append(Conversion(target, str(rule.id), rule.title, source, None, str(error), True))
            continue
        except SigmaError as error:
            message = str(error)
            if str(rule.id) not in message:
                message = f"{describe_rule(rule)}: {message}"
            results.append(Conversion(target, str(rule.id), rule.title, source, None, message))
            continue
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
        results.append(Conversion(target, str(rule.id), rule.title, source, str(queries[0])))
    return results
