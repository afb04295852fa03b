"""What every packager reads: the corpus (rules parsed once, their compiled table per target), the
declared fixtures and the configuration (rules -> pySigma -> per-target query -> artifact)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from snaptrail import __version__
from snaptrail.config import Config
from snaptrail.corpus import LEVELS, Conversion, Corpus, RuleInfo
from snaptrail.fixtures import Fixtures, load_fixtures

__all__ = ["LEVELS", "BuildContext", "RuleInfo"]


@dataclass
class BuildContext:
    rule_paths: Sequence[Path]
    filter_paths: Sequence[Path]
    config: Config
    # Fixture folders whose cases.yml the docs summarise; given by the caller, never searched for.
    fixture_paths: Sequence[Path] = field(default_factory=tuple)
    version: str = __version__

    @cached_property
    def corpus(self) -> Corpus:
        return Corpus.load(self.rule_paths, self.filter_paths, self.config)

    @cached_property
    def fixtures(self) -> Fixtures:
        return load_fixtures(self.fixture_paths)

    @property
    def rules(self) -> list[RuleInfo]:
        """Every detection: single-event rules and chains (Sigma correlation rules), by family then title."""
        return self.corpus.rules

    @property
    def conversions(self) -> dict[str, dict[str, Conversion]]:
        """target -> rule id -> conversion (a query, or the reason the target cannot express it)."""
        return self.corpus.table

    def query(self, target: str, rule_id: str) -> str | None:
        conversion = self.corpus.compiled(target).get(rule_id)
        return str(conversion.query) if conversion is not None and conversion.ok else None

    def errors(self) -> list[Conversion]:
        return self.corpus.errors()

    def collisions(self) -> list[str]:
        """Rules that would overwrite each other in a package: the same title (Splunk saved searches,
        Sentinel display names) or the same file name (query files, docs pages)."""
        problems = []
        for attribute, what in (("title", "title"), ("name", "file name")):
            seen: dict[str, RuleInfo] = {}
            for rule in self.rules:
                key = getattr(rule, attribute).lower()
                if key in seen:
                    problems.append(
                        f"{rule.path}: rule '{rule.title}' ({rule.id}) has the same {what} as "
                        f"{seen[key].path} ({seen[key].id}); packages would collide"
                    )
                seen.setdefault(key, rule)
        return problems

    def provenance(self) -> dict[str, Any]:
        """What shaped the build; every artifact carries it so an admin can tell what they imported."""
        return {"snaptrail_version": self.version, **self.config.describe()}
