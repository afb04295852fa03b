"""Which rules, filters, fixtures, registry overlays and settings a command uses: the one place that
decides, so `build`, `check`, `test`, `scan`, `convert` and the sigma-cli backends agree.

Precedence, for each kind: what the command line names; else the `content:` section of
snaptrail.yml (paths relative to that file; the shipped rules and filters are added unless
`shipped_rules: replace`); else the repository's own folders when run inside a snaptrail checkout
(`sigma/rules`, `sigma/filters`, `tests/fixtures`); else the content shipped inside the package
(`snaptrail.shipped`, `snaptrail.shipped_fixtures`). Every command says on one line what it used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from snaptrail.cloudtrail.registry import use_overlays
from snaptrail.config import Config, load_config
from snaptrail.corpus import RuleLoadError

CHECKOUT_RULES = Path("sigma/rules")
CHECKOUT_FILTERS = Path("sigma/filters")
CHECKOUT_FIXTURES = Path("tests/fixtures")


# An installed wheel holds the content as package data; an editable install (or a checkout on the
# path) has no such package, and the content is where the repository keeps it.
CHECKOUT_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {
    "snaptrail.shipped": CHECKOUT_ROOT / "sigma",
    "snaptrail.shipped_fixtures": CHECKOUT_ROOT / "tests/fixtures",
}


class ShippedContentMissing(RuleLoadError):
    """Neither the package data nor a checkout holds the shipped content."""


def _package_folder(package: str, sub: str = "") -> Path:
    # The content packages hold no Python: namespace packages, whose one location is the folder.
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    folder = Path(locations[0]) if locations else SHIPPED[package]
    if not folder.is_dir():
        raise ShippedContentMissing(f"snaptrail's shipped content is not installed ({package}, {folder})")
    return folder / sub if sub else folder


def shipped_rules() -> Path:
    return _package_folder("snaptrail.shipped", "rules")


def shipped_filters() -> Path:
    return _package_folder("snaptrail.shipped", "filters")


def shipped_fixtures() -> Path:
    return _package_folder("snaptrail.shipped_fixtures")


@dataclass(frozen=True)
class Content:
    rules: tuple[Path, ...]
    filters: tuple[Path, ...]
    fixtures: tuple[Path, ...]
    registry: tuple[Path, ...]
    config: Config
    origin: str  # "command line", "snaptrail.yml", "checkout" or "shipped": where the rules came from

    def describe(self) -> str:
        def names(paths: Sequence[Path]) -> str:
            return ", ".join(map(str, paths)) or "none"

        shipped = shipped_rules()
        rules = ", ".join("shipped rules" if p == shipped else str(p) for p in self.rules)
        config = str(self.config.path) if self.config.path else "defaults (no snaptrail.yml)"
        parts = [f"rules: {rules}", f"filters: {names(self.filters)}", f"config: {config}"]
        if self.registry:
            parts.append(f"registry overlays: {names(self.registry)}")
        return "; ".join(parts)


def resolve_content(
    rules: Sequence[Path] | None = None,
    filters: Sequence[Path] | None = None,
    fixtures: Sequence[Path] | None = None,
    config_path: Path | None = None,
) -> Content:
    """The content a command runs on. `filters=[]` (given, empty) means no filters."""
    config = load_config(config_path)
    base = config.path.parent if config.path is not None else Path()
    declared = config.content

    def relative(paths: Sequence[str]) -> list[Path]:
        return [base / path for path in paths]

    in_checkout = CHECKOUT_RULES.is_dir()
    if rules:
        rule_paths, origin = list(rules), "command line"
    elif declared.rules:
        rule_paths, origin = relative(declared.rules), "snaptrail.yml"
        if declared.shipped_rules == "include":
            rule_paths.insert(0, CHECKOUT_RULES if in_checkout else shipped_rules())
    elif in_checkout:
        rule_paths, origin = [CHECKOUT_RULES], "checkout"
    else:
        rule_paths, origin = [shipped_rules()], "shipped"
    if filters is not None:
        filter_paths = list(filters)
    else:
        own = CHECKOUT_FILTERS if CHECKOUT_FILTERS.is_dir() else shipped_filters()
        filter_paths = [own, *relative(declared.filters)]
    if fixtures is not None:
        fixture_paths = list(fixtures)
    elif declared.fixtures:
        fixture_paths = relative(declared.fixtures)
        if declared.shipped_rules == "include" and not rules:
            fixture_paths.insert(0, CHECKOUT_FIXTURES if in_checkout else shipped_fixtures())
    elif origin in ("checkout", "shipped"):
        fixture_paths = [CHECKOUT_FIXTURES if in_checkout else shipped_fixtures()]
    else:
        fixture_paths = [CHECKOUT_FIXTURES] if CHECKOUT_FIXTURES.is_dir() else []
    registry = relative(declared.registry)
    use_overlays(registry)
    present = tuple(path for path in fixture_paths if path.is_dir())
    return Content(tuple(rule_paths), tuple(filter_paths), present, tuple(registry), config, origin)
