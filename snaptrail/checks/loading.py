"""The corpus `snaptrail check` validates: `Corpus.load` with `keep_going`, so a file that does not
load is one issue naming it, and every other rule is still loaded and checked."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from snaptrail.checks.report import Issue, line_of
from snaptrail.corpus import AnyRule, Corpus, LoadProblem, RuleLoadError


@dataclass
class LoadedRules:
    corpus: Corpus | None  # None when no file loaded
    issues: list[Issue] = field(default_factory=list)
    # Ids of rules in files that did not load: a cases.yml naming them is not dangling.
    unloaded_ids: set[str] = field(default_factory=set)

    @property
    def rules(self) -> list[AnyRule]:
        return list(self.corpus.collection.rules) if self.corpus else []


def _issue(problem: LoadProblem) -> Issue:
    line = problem.line
    if not line:
        # pySigma rarely knows the line; its messages quote the offending value ("'severe' is not ...").
        quoted = [(value,) for value in re.findall(r"'([^']{3,})'", problem.message)]
        line = line_of(problem.file, quoted)
    return Issue(problem.file, line, problem.rule_id, problem.title, problem.kind, problem.message)


def load_rules(rule_paths: Sequence[Path]) -> LoadedRules:
    try:
        corpus = Corpus.load(rule_paths, keep_going=True)
    except RuleLoadError as error:  # no rule files at all
        return LoadedRules(None, [Issue(", ".join(map(str, rule_paths)), 1, "?", "?", "load", str(error))])
    issues = list(dict.fromkeys(_issue(problem) for problem in corpus.problems))
    return LoadedRules(corpus if corpus.collection.rules else None, issues, corpus.unloaded_ids)
