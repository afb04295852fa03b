"""The corpus `snaptrail check` validates: `Corpus.load`, the one loader, and when it refuses the
rules, one issue per file it could not load, and the rest loaded and checked anyway.

`Corpus.load` parses every file once and raises one RuleLoadError naming all problems. Only then are
the files read again one at a time, through the loader's own parser, to tell which files failed and
why, so the common (clean) path parses each rule exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRuleBase

from snaptrail.checks.report import Issue, line_of
from snaptrail.corpus import AnyRule, Corpus, RuleLoadError, _parse_files, rule_files, source_of


@dataclass
class LoadedRules:
    corpus: Corpus | None  # None when no file loaded
    issues: list[Issue] = field(default_factory=list)
    # Ids of rules in files that did not load: a cases.yml naming them is not dangling.
    unloaded_ids: set[str] = field(default_factory=set)

    @property
    def rules(self) -> list[AnyRule]:
        return list(self.corpus.collection.rules) if self.corpus else []


def _message(error: Exception) -> str:
    # SigmaError's str() appends the absolute source path; the Issue names the file already.
    return str(error.args[0]) if error.args else str(error)


def _error_line(file: Path, error: SigmaError) -> int:
    if error.source is not None and error.source.line:
        return error.source.line
    # pySigma rarely knows the line; its messages quote the offending value ("'severe' is not ...").
    return line_of(str(file), [(quoted,) for quoted in re.findall(r"'([^']{3,})'", _message(error))])


def _file_issues(file: Path, documents: list[SigmaRuleBase], problems: list[str]) -> list[Issue]:
    """One issue per distinct problem of one file."""
    issues = {
        Issue(
            str(file),
            _error_line(file, error),
            str(document.id) if document.id else "?",
            str(document.title) if document.title else "?",
            type(error).__name__,
            _message(error),
        ): None
        for document in documents
        for error in document.errors
    }
    if issues or not problems:
        return list(issues)
    # The file as a whole: not YAML, or YAML that is no Sigma document.
    try:
        list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        return [Issue(str(file), mark.line + 1 if mark else 1, "?", "?", "yaml", f"not valid YAML: {error}")]
    except (OSError, UnicodeDecodeError) as error:
        return [Issue(str(file), 1, "?", "?", "read", f"cannot read: {error}")]
    prefix = f"{file}: "
    messages = dict.fromkeys(problem.removeprefix(prefix) for problem in problems)
    return [Issue(str(file), 1, "?", "?", "sigma", message) for message in messages]


def _unresolved(
    chains: list[SigmaCorrelationRule], collection: SigmaCollection
) -> list[tuple[SigmaCorrelationRule, str]]:
    found = []
    for chain in chains:
        try:
            chain.resolve_rule_references(collection)
        except SigmaError as error:
            found.append((chain, _message(error)))
    return found


def load_rules(rule_paths: Sequence[Path]) -> LoadedRules:
    try:
        return LoadedRules(Corpus.load(rule_paths))
    except RuleLoadError:
        pass  # below: which files, and why
    loaded = LoadedRules(None)
    good: dict[Path, list[SigmaRuleBase]] = {}
    unloaded: list[SigmaRuleBase] = []
    for file in rule_files(rule_paths):
        documents, problems = _parse_files([file])
        issues = _file_issues(file, documents, problems)
        if issues:
            loaded.issues.extend(issues)
            unloaded.extend(documents)
        else:
            good[file] = documents
    loaded.unloaded_ids = {str(document.id) for document in unloaded if document.id}
    # A chain naming a rule that is not loaded cannot be checked. When the rule is in a file that
    # failed to load, that file's issue is the one defect; otherwise the chain's reference is.
    while True:
        documents = [document for file_documents in good.values() for document in file_documents]
        chains = [document for document in documents if isinstance(document, SigmaCorrelationRule)]
        dangling = _unresolved(chains, SigmaCollection(documents, resolve_references=False))
        files = {Path(str(chain.source.path)) for chain, _ in dangling if chain.source} & set(good)
        if not files:
            break
        everything = SigmaCollection([*documents, *unloaded], resolve_references=False)
        genuine = {id(chain) for chain, _ in _unresolved([chain for chain, _ in dangling], everything)}
        for chain, message in dangling:
            loaded.unloaded_ids.add(str(chain.id))
            if id(chain) in genuine:
                file = source_of(chain)
                loaded.issues.append(Issue(file, 1, str(chain.id), chain.title, "chain-reference", message))
        for file in files:
            unloaded.extend(good.pop(file))
    if good:
        try:
            loaded.corpus = Corpus.load(list(good))
        except RuleLoadError as error:  # not expected after the above; still an issue, not a traceback
            loaded.issues.append(Issue(", ".join(map(str, good)), 1, "?", "?", "load", str(error)))
    return loaded
