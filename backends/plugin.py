"""What every snaptrail backend adds to its query language as a pySigma plugin: a complete pipeline
by itself, the shipped filters and allowlists by default, checked backend options, and output
formats that all carry the query `snaptrail build` compiles.

`sigma convert -t snaptrail_x rules/` converts as `snaptrail build` does: the backend completes the
pipeline it is given with

* its CloudTrail pipeline (field mapping, logsource check), unless the pipeline maps CloudTrail
  fields already (`-p snaptrail_x`, or snaptrail's own Corpus);
* snaptrail's shipped Sigma filters, applied to the rules they name with the allowlists of
  snaptrail's default settings (or of `-O config`), the allowlist values as pipeline vars for their
  `%placeholders%`, and the Elastic index patterns (`elastic.index`); unless the pipeline
  resolves the allowlists already (identifier `snaptrail_allowlists`, as
  `snaptrail.corpus.config_pipeline` does).

pySigma 1.5.1 processing pipelines carry no Sigma filters (`ProcessingPipeline` has items,
postprocessing, finalizers and vars), so the filters are a processing item of their own
(ApplySigmaFilters), first in the pipeline: they name CloudTrail fields, as rules do.

Backend options (`sigma convert -O key=value`; pySigma passes them as keyword arguments):

* `filters=true|false`: apply the shipped filters (default true). Off, no allowlist clause is
  added; `%placeholders%` of rules or of filters given with `sigma convert --filter` are still
  resolved from the configuration.
* `config=PATH`: the snaptrail.yml whose allowlists (and `elastic.index`) apply, instead of the
  shipped defaults (snaptrail.config; the filters from snaptrail.content).
* the options of the upstream backend that keep their meaning (`upstream_options` of each backend).

An unknown option, a bad value, a missing file or an unknown placeholder stops the conversion with
one line (pySigma reports a SigmaError so) naming what is wrong. Upstream backends ignore unknown
options; a misspelt `-O filter=false` would then silently keep the allowlists it meant to drop.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml
from sigma.collection import SigmaCollection
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaConfigurationError, SigmaRuleLocation, SigmaValueError
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import SetStateTransformation, ValueListPlaceholderTransformation
from sigma.processing.transformations.base import PreprocessingTransformation
from sigma.rule import SigmaDetection, SigmaRule
from sigma.types import Placeholder, SigmaRegularExpression, SigmaString

from snaptrail import yaml_text
from snaptrail.backends.cloudtrail_pipeline import CloudTrailFieldMapping
from snaptrail.backends.errors import describe_rule

if TYPE_CHECKING:
    # snaptrail.config imports snaptrail.backends.elastic (its default index), which imports this module.
    from snaptrail.config import Config

AnyRule = SigmaRule | SigmaCorrelationRule

OPTIONS: dict[str, str] = {
    "filters": "true|false (default true): apply snaptrail's shipped Sigma filters with the allowlists "
    "of the configuration",
    "config": "PATH to a snaptrail.yml whose allowlists (and elastic.index) apply "
    "(default: snaptrail's default settings)",
}
SETTINGS_ID = "snaptrail_allowlists"  # the item that resolves the allowlists (also snaptrail.corpus's)
FILTERS_ID = "snaptrail_filters"
FILTER_SUFFIXES = (".yml", ".yaml")  # as snaptrail.corpus.RULE_SUFFIXES


# ---- filters and allowlists as pipeline items ---------------------------------------------------
@dataclass
class ApplySigmaFilters(PreprocessingTransformation):
    """Applies Sigma filters to the rules they name, as `SigmaCollection` does when it loads them."""

    filters: list[SigmaFilter] = field(default_factory=list)

    def apply(self, rule: AnyRule) -> None:
        if not isinstance(rule, SigmaRule):
            return  # pySigma applies filters to no correlation rule
        before = list(rule.detection.condition)
        for sigma_filter in self.filters:
            # apply_on_rule inserts the filter's own detection objects, and pipelines rename fields
            # in place: every rule gets its own copy (as snaptrail.corpus does).
            copy.deepcopy(sigma_filter).apply_on_rule(rule)
        if rule.detection.condition != before:
            self.processing_item_applied(rule)


@dataclass
class AllowlistPlaceholders(ValueListPlaceholderTransformation):
    """pySigma's ValueListPlaceholderTransformation (values from the pipeline vars), whose failures name
    the rule, the placeholder and the configuration instead of only the variable."""

    config_name: str = "snaptrail.yml"
    _rule: AnyRule | None = field(default=None, init=False, compare=False, repr=False)

    def apply(self, rule: AnyRule) -> None:
        self._rule = rule
        super().apply(rule)

    def placeholder_replacements(self, p: Placeholder) -> Iterable[SigmaString]:
        values = self._pipeline.vars if self._pipeline is not None else {}
        where = f"{describe_rule(self._rule)}: placeholder '%{p.name}%'"
        if p.name not in values:
            known = ", ".join(sorted(name for name, v in values.items() if isinstance(v, list)))
            raise SigmaValueError(
                f"{where} has no value: {self.config_name} has no such allowlist (allowlists: {known})"
            )
        if isinstance(values[p.name], list) and not values[p.name]:
            # An empty value list would compile into a condition on nothing; snaptrail leaves a
            # filter with an empty allowlist out instead (the shipped ones are: active_filters).
            raise SigmaValueError(
                f"{where} is an empty allowlist in {self.config_name}: "
                "fill it in, or leave out the filter using it"
            )
        try:
            return list(super().placeholder_replacements(p))
        except SigmaValueError as error:
            raise SigmaValueError(f"{where}: {error.args[0]}") from None


# ---- "any other account": per-element allowlists ----------------------------------------------
# Sigma has no per-element negation: on an array field, `not trusted` drops a call as soon as ONE item
# is trusted, so a trusted account added beside an unknown one hid the share. A sharing filter asks the
# opposite, positive question - is there an item that is NOT on the list? - as a regular expression that
# matches exactly the values outside the list, which every target already applies to each element
# (any-element semantics). `%not_<allowlist>%` in a `|re|expand` value is that expression (a list of
# regexes); it exists for account-id allowlists only (exact 12-digit values, no wildcards).
OUTSIDE_PREFIX = "not_"
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


def outside_regexes(values: Iterable[str]) -> list[str]:
    """Anchored regexes of which one matches every string that is not one of `values` (12-digit
    account ids), and none matches a value: any other length, or 12 characters that leave the values'
    common prefixes at some position (`^1111[^2].......$`). Plain anchors, classes and `.`, no
    repetition counts, groups or lookahead: the dialect DuckDB/RE2, Kusto, Lucene, EQL, ES|QL and
    SPL share."""
    accounts = sorted(set(values))
    if not accounts or not all(_ACCOUNT_ID.match(value) for value in accounts):
        raise ValueError("an outside-of-list regex needs a non-empty list of 12-digit account ids")
    length = 12
    # Lengths as runs of `.`: braces ({n}) are format fields to pySigma's deferred queries (SPL).
    regexes = [f"^{'.' * shorter}$" for shorter in range(length)] + ["." * (length + 1)]
    prefixes = sorted({account[:depth] for account in accounts for depth in range(length)})
    for prefix in prefixes:
        heads = "".join(sorted({a[len(prefix)] for a in accounts if a.startswith(prefix)}))
        regexes.append(f"^{prefix}[^{heads}]{'.' * (length - len(prefix) - 1)}$")
    return regexes


def outside_vars(values: dict[str, list[str]]) -> dict[str, list[str]]:
    """`not_<name>` for every non-empty account-id allowlist: the regexes of values outside it."""
    return {
        f"{OUTSIDE_PREFIX}{name}": outside_regexes(entries)
        for name, entries in values.items()
        if entries and all(isinstance(e, str) and _ACCOUNT_ID.match(e) for e in entries)
    }


def settings_pipeline(config: Config, config_name: str) -> ProcessingPipeline:
    """What snaptrail.yml changes in every query, as snaptrail.corpus.config_pipeline (which the build
    uses) has it: the allowlists for the %placeholders%, and the Elastic index patterns (the
    Lucene/EQL/ES|QL backends read pipeline state `index`)."""
    items = [ProcessingItem(AllowlistPlaceholders(config_name=config_name), identifier=SETTINGS_ID)]
    index = config.section("elastic").get("index") or None
    if index:
        patterns = [index] if isinstance(index, str) else [str(pattern) for pattern in index]
        items.append(
            ProcessingItem(SetStateTransformation("index", ",".join(patterns)), identifier="snaptrail_index")
        )
    return ProcessingPipeline(
        name=f"snaptrail: settings from {config_name}",
        priority=10,
        items=items,
        vars={**(values := config.placeholders()), **outside_vars(values)},
    )


def filter_placeholders(sigma_filter: SigmaFilter) -> set[str]:
    """The %placeholders% a filter's values refer to."""
    names: set[str] = set()

    def walk(detection: SigmaDetection) -> None:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                walk(item)
                continue
            for value in item.value:
                text = value.regexp if isinstance(value, SigmaRegularExpression) else value
                if isinstance(text, SigmaString):
                    names.update(part.name for part in text.s if isinstance(part, Placeholder))

    for detection in sigma_filter.filter.detections.values():
        walk(detection)
    return names


def load_filters(folder: Path) -> list[SigmaFilter]:
    """The Sigma filters in a folder, in the order snaptrail's corpus applies them (sorted paths)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix in FILTER_SUFFIXES and p.is_file())
    filters: list[SigmaFilter] = []
    for file in files:
        try:
            collection = SigmaCollection.from_dicts(
                yaml_text.load_all(file.read_text(encoding="utf-8")),
                source=SigmaRuleLocation(file),
                collect_filters=True,
            )
        except (OSError, yaml.YAMLError) as error:
            why = " ".join(str(error).split())
            raise SigmaConfigurationError(f"{file}: cannot read Sigma filter: {why}") from None
        if collection.rules:
            raise SigmaConfigurationError(f"{file}: a rule among the filters (filters only, please)")
        filters.extend(collection.filters)
    return filters


def filter_activity(
    filters: list[SigmaFilter], values: dict[str, list[str]], config_name: str
) -> list[tuple[SigmaFilter, list[str]]]:
    """Each filter with the placeholders it uses whose allowlist is empty (a filter with any is left
    out: an empty list must never compile into a condition, and without values the filter has nothing
    to remove). A placeholder that is no allowlist is an error. snaptrail.corpus uses this too."""
    result = []
    for sigma_filter in filters:
        # %not_<allowlist>% (see outside_regexes) is on exactly when its allowlist is.
        names = {allowlist_of(name, values) for name in filter_placeholders(sigma_filter)}
        unknown = sorted(names - set(values))
        where = sigma_filter.source.path if sigma_filter.source is not None else "?"
        if unknown:
            raise SigmaConfigurationError(
                f"{where}: filter '{sigma_filter.title}' uses placeholder "
                f"{', '.join(f'%{name}%' for name in unknown)}, which {config_name} has no allowlist for"
            )
        for name in sorted(filter_placeholders(sigma_filter) - names):
            entries = values[allowlist_of(name, values)]
            if not all(_ACCOUNT_ID.match(entry) for entry in entries):
                raise SigmaConfigurationError(
                    f"{where}: filter '{sigma_filter.title}' uses %{name}%, but "
                    f"{allowlist_of(name, values)} in {config_name} is no list of 12-digit account ids"
                )
        result.append((sigma_filter, sorted(name for name in names if not values[name])))
    return result


def allowlist_of(placeholder: str, values: dict[str, list[str]]) -> str:
    """The allowlist a placeholder reads: itself, or <name> for %not_<name>% (unless an allowlist is
    called not_<name> itself)."""
    if placeholder in values or not placeholder.startswith(OUTSIDE_PREFIX):
        return placeholder
    return placeholder.removeprefix(OUTSIDE_PREFIX)


def active_filters(
    filters: list[SigmaFilter], values: dict[str, list[str]], config_name: str
) -> list[SigmaFilter]:
    """The filters to apply (see filter_activity)."""
    return [f for f, empty in filter_activity(filters, values, config_name) if not empty]


# ---- options ------------------------------------------------------------------------------------
def _flag(backend: str, name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise SigmaConfigurationError(f"{backend}: backend option -O {name}={value}: expected true or false")


class SnaptrailBackend:
    """Backend mixin, first base of every snaptrail backend: completes the pipeline (see the module),
    checks the backend options, and writes every output format around the default-format query.

    A backend declares `default_pipeline` (its CloudTrail pipeline), `upstream_options` (options of
    its upstream parent it passes on, name -> meaning) and may add formats: `wrap_<format>(rule,
    query, state)` then receives the query exactly as `-f default` writes it (pipeline
    postprocessing included), so every format carries the query `snaptrail build` compiles, and a
    chain's steps are always the default-format queries.
    """

    default_pipeline: Callable[[], ProcessingPipeline]
    requires_pipeline: ClassVar[bool] = False  # sigma-cli must not demand `-p`
    upstream_options: ClassVar[dict[str, str]] = {}
    identifier: ClassVar[str]
    default_format: ClassVar[str]
    formats: ClassVar[dict[str, str]]

    def __init__(
        self,
        processing_pipeline: ProcessingPipeline | None = None,
        collect_errors: bool = False,
        **options: Any,
    ) -> None:
        # Problems are raised when the conversion starts (init_processing_pipeline), as a SigmaError:
        # sigma-cli turns a SigmaError into one line, but shows a traceback for any exception raised
        # here except TypeError, whose message it cuts down to the option's name.
        self._problem: str | None = None
        known = {**OPTIONS, **self.upstream_options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            self._problem = (
                f"{self.identifier}: unknown backend option {', '.join(f'-O {name}' for name in unknown)} "
                f"(known options: {', '.join(known)})"
            )
        repeated = sorted(name for name in OPTIONS if isinstance(options.get(name), list))
        if repeated and self._problem is None:
            self._problem = f"{self.identifier}: backend option {', '.join(repeated)} given more than once"
        self._filters = options.get("filters", True)
        self._config_option: str | None = options.get("config")
        upstream = {name: value for name, value in options.items() if name in self.upstream_options}
        super().__init__(processing_pipeline, collect_errors, **upstream)  # type: ignore[call-arg]
        # pySigma offers backend options to pipelines as vars `backend_<name>`: snaptrail's too.
        self.backend_options = {name: value for name, value in options.items() if name in known}
        self._given = processing_pipeline
        self._completed: ProcessingPipeline | None = None
        self._config: Config | None = None
        self._step_queries: dict[str, str] = {}

    # ---- the pipeline ---------------------------------------------------------------------------
    def config(self) -> Config:
        """The snaptrail.yml of `-O config`, else snaptrail's default settings (`Config()`)."""
        if self._config is None:
            from snaptrail.config import Config, ConfigError, load_config  # see TYPE_CHECKING above

            if not self._config_option:
                # snaptrail's defaults (the shipped allowlists), never a ./snaptrail.yml of the caller:
                # a conversion must not depend on the folder sigma-cli runs in.
                self._config = Config()
                return self._config
            path = Path(self._config_option)
            if not path.is_file():
                why = f"{self.identifier}: backend option -O config={path}: no such file"
                raise SigmaConfigurationError(why)
            try:
                self._config = load_config(path)
            except ConfigError as error:
                raise SigmaConfigurationError(str(error)) from None
        return self._config

    def _config_name(self) -> str:
        config = self.config()
        return str(config.path) if config.path is not None else "snaptrail's default settings"

    def completed_pipeline(self) -> ProcessingPipeline:
        """The pipeline given, completed as the module describes (and as it is, when complete)."""
        given = self._given or ProcessingPipeline()
        has_mapping = any(isinstance(item.transformation, CloudTrailFieldMapping) for item in given.items)
        has_settings = any(item.identifier == SETTINGS_ID for item in given.items)
        if has_mapping and has_settings:
            return given  # snaptrail's own Corpus: it applied the filters when it loaded the rules
        parts: list[ProcessingPipeline] = []
        if not has_settings and _flag(self.identifier, "filters", self._filters):
            from snaptrail.content import shipped_filters  # imports the corpus, which imports the backends

            config = self.config()
            filters = active_filters(
                load_filters(shipped_filters()), config.placeholders(), self._config_name()
            )
            parts.append(
                ProcessingPipeline(
                    name="snaptrail: shipped Sigma filters",
                    items=[ProcessingItem(ApplySigmaFilters(filters), identifier=FILTERS_ID)],
                )
            )
        if not has_mapping:
            parts.append(type(self).default_pipeline())
        parts.append(given)
        if not has_settings:
            parts.append(settings_pipeline(self.config(), self._config_name()))
        return sum(parts[1:], parts[0])

    def init_processing_pipeline(self, output_format: str | None = None) -> None:
        if self._problem is not None:
            raise SigmaConfigurationError(self._problem)
        if self._completed is None:
            # A bad value is an error even where the pipeline given makes the option moot.
            _flag(self.identifier, "filters", self._filters)
            self._completed = self.completed_pipeline()
        self.processing_pipeline = self._completed
        super().init_processing_pipeline(output_format)  # type: ignore[misc]

    # ---- output formats -------------------------------------------------------------------------
    def finalize_query(
        self, rule: AnyRule, query: Any, index: int, state: ConversionState, output_format: str
    ) -> Any:
        """The default-format query (pySigma's finalize_query: format, then the pipeline's
        postprocessing), wrapped by the requested format. Upstream formats wrap the query before
        postprocessing, which put Splunk's base macro in front of a savedsearches stanza."""
        if output_format not in self.formats:
            raise SigmaConfigurationError(
                f"{self.identifier}: unknown output format '{output_format}' "
                f"(formats: {', '.join(self.formats)})"
            )
        search = super().finalize_query(rule, query, index, state, self.default_format)  # type: ignore[misc]
        if isinstance(rule, SigmaRule) and rule.id is not None and index == 0:
            self._step_queries[str(rule.id)] = str(search)
        if output_format == self.default_format:
            return search
        return getattr(self, f"wrap_{output_format}")(rule, search, state)

    def step_queries(self, chain: SigmaCorrelationRule) -> dict[str, str]:
        """A chain's steps as this backend wrote them in the default format: in another format a
        rule's conversion result is a savedsearches stanza or a Kibana rule, not a query to embed."""
        queries: dict[str, str] = dict(super().step_queries(chain))  # type: ignore[misc]
        for reference in chain.rules:
            rule_id = str(getattr(reference.rule, "id", ""))
            if rule_id in self._step_queries:
                queries[rule_id] = self._step_queries[rule_id]
        return queries


def index_patterns(state: ConversionState, default: str) -> list[str]:
    """The Elastic index patterns of a query: pipeline state `index` (comma-separated), else `default`."""
    index = state.processing_state.get("index") or default
    # Upstream EQL's finalize_query stores the state back as a list of one comma-separated string.
    entries = index if isinstance(index, list) else [index]
    return [pattern for entry in entries for pattern in str(entry).split(",") if pattern]


__all__ = [
    "OPTIONS",
    "AllowlistPlaceholders",
    "ApplySigmaFilters",
    "SnaptrailBackend",
    "active_filters",
    "index_patterns",
    "load_filters",
    "outside_regexes",
    "settings_pipeline",
]
