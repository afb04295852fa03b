"""Splunk SPL for CloudTrail as the Splunk Add-on for AWS stores it (sourcetype aws:cloudtrail).

The add-on extracts every JSON leaf under its dotted path and writes an array step as `{}`
(`requestParameters.createVolumePermission.add.items{}.userId`), a multivalue field that
`field=value` matches when any value matches. The base search comes from one macro,
`snaptrail_cloudtrail` (default `sourcetype=aws:cloudtrail`), so an admin sets the index once.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, ClassVar

from sigma.backends.splunk import SplunkBackend
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.processing.conditions import IsSigmaRuleCondition
from sigma.processing.pipeline import ProcessingPipeline, QueryPostprocessingItem
from sigma.processing.postprocessing import EmbedQueryTransformation
from sigma.rule import SigmaRule
from sigma.types import SigmaRegularExpression, SigmaString, SigmaType, SpecialChars

from snaptrail.backends.chains import Chain, SlidingWindowChains
from snaptrail.backends.cloudtrail_pipeline import cloudtrail_pipeline
from snaptrail.backends.plugin import SnaptrailBackend
from snaptrail.cloudtrail.registry import CloudTrailPath

TARGET = "splunk"
BASE_MACRO = "snaptrail_cloudtrail"


def splunk_name(path: CloudTrailPath) -> str:
    return ".".join(step.name + ("{}" if step.array else "") for step in path.steps)


def _eval_field(name: str) -> str:
    return "'" + name.replace("'", "\\'") + "'"


def _events(chain: Chain, with_step: bool) -> str:
    """The steps' events, each tagged with its step and key; multisearch needs two or more."""
    parts = []
    for index, step in enumerate(chain.steps, start=1):
        key = ' . "|" . '.join(_eval_field(k) for k in step.keys)
        evals = f"snaptrail_key={key}" + (f", snaptrail_step={index}" if with_step else "")
        if chain.value_field is not None:
            evals += f", snaptrail_value={_eval_field(chain.value_field)}"
        parts.append(f"{step.query} | eval {evals}")
    if len(parts) == 1:
        return parts[0]
    return "| multisearch " + " ".join(f"[search {part}]" for part in parts)


def chain_spl(chain: Chain) -> str:
    window = chain.window_seconds
    lines = [_events(chain, chain.kind == "ordered"), "| where isnotnull(snaptrail_key)", "| sort 0 + _time"]
    if chain.kind == "ordered":
        lines.append(
            '| eval snaptrail_c1=if(snaptrail_step=1, printf("%012d", floor(_time)) . "|" . eventID, null())'
        )
        for i in range(2, len(chain.steps) + 1):
            lines.append(
                f"| streamstats time_window={window}s max(snaptrail_c{i - 1}) as snaptrail_p{i} "
                "by snaptrail_key"
            )
            start = f'tonumber(mvindex(split(snaptrail_p{i}, "|"), 0))'
            lines.append(
                f"| eval snaptrail_c{i}=if(snaptrail_step={i} AND isnotnull(snaptrail_p{i}) "
                f'AND _time - {start} <= {window} AND NOT match(snaptrail_p{i}, eventID . "$"), '
                f'snaptrail_p{i} . "," . eventID, null())'
            )
        last = f"snaptrail_c{len(chain.steps)}"
        lines += [
            f"| where isnotnull({last})",
            f'| eval event_ids=split(mvindex(split({last}, "|"), 1), ",")',
        ]
    else:
        measure = "count as n" if chain.kind == "count" else "dc(snaptrail_value) as n"
        lines += [
            f"| streamstats time_window={window}s {measure} values(eventID) as event_ids by snaptrail_key",
            "| streamstats current=f window=1 last(n) as snaptrail_prev by snaptrail_key",
            f"| where n>={chain.threshold} AND (isnull(snaptrail_prev) OR snaptrail_prev<{chain.threshold})",
        ]
    lines.append("| table _time snaptrail_key event_ids")
    return "\n".join(lines)


def splunk_pipeline() -> ProcessingPipeline:
    return cloudtrail_pipeline(
        "snaptrail: CloudTrail for Splunk (Splunk Add-on for AWS)",
        TARGET,
        splunk_name,
        ["splunk", "snaptrail_splunk"],
        postprocessing_items=[
            # A rule's search starts with the macro; a chain's steps already do (multisearch).
            QueryPostprocessingItem(
                EmbedQueryTransformation(prefix=f"`{BASE_MACRO}` "),
                rule_conditions=[IsSigmaRuleCondition()],
                identifier="snaptrail_splunk_base_macro",
            )
        ],
    )


class SplunkCloudTrailBackend(SnaptrailBackend, SlidingWindowChains, SplunkBackend):
    """Upstream SPL generation with the gaps that matter for CloudTrail closed.

    sigma-cli: `sigma convert -t snaptrail_splunk [-f FORMAT] [-O key=value ...] rules/`

    Formats: `default` (one search per rule, each starting with the `snaptrail_cloudtrail` macro)
    and `savedsearches` (upstream's savedsearches.conf: a `[default]` stanza with the dispatch
    window, then one stanza per rule whose `search =` is the default-format search, macro
    included; the macro itself is defined by snaptrail's Splunk app). Upstream's `data_model`
    (tstats over CIM data models) is not offered: CloudTrail events are searched raw.

    Options: `filters=true|false`, `config=PATH` (see snaptrail.backends.plugin), and upstream's
    `min_time` / `max_time` (savedsearches' dispatch.earliest_time / latest_time, default -30d /
    now); `query_settings` and `output_settings` from Python only.
    """

    name: ClassVar[str] = "snaptrail Splunk SPL (Splunk Add-on for AWS, aws:cloudtrail)"
    identifier: ClassVar[str] = "snaptrail_splunk"
    default_pipeline = staticmethod(splunk_pipeline)
    formats: ClassVar[dict[str, str]] = {
        "default": f"SPL searches, each starting with the `{BASE_MACRO}` macro",
        "savedsearches": "savedsearches.conf stanzas; search = the default-format search, macro included",
    }
    upstream_options: ClassVar[dict[str, str]] = {
        "min_time": "savedsearches: dispatch.earliest_time (default -30d)",
        "max_time": "savedsearches: dispatch.latest_time (default now)",
        "query_settings": "savedsearches, from Python: rule -> extra settings of its stanza",
        "output_settings": "savedsearches, from Python: extra settings of the [default] stanza",
    }
    # `{}` array steps are part of the add-on's field names and are written unquoted in a search.
    field_quote_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[\w.{}:]+$")
    # Splunk's CASE() makes a search term case-sensitive; upstream has no |cased support.
    case_sensitive_match_expression: ClassVar[str] = "{field}=CASE({value})"

    target: ClassVar[str] = TARGET

    def _refuse_single_wildcard(self, field: str, value: SigmaType) -> None:
        """Refuse what a quoted SPL search term cannot say (Splunk's Search Manual, "Backslashes"
        and "Quotes and escaping characters"; no SPL parser runs here to try anything else)."""
        if not isinstance(value, SigmaString):
            return
        # SPL search has only `*`; upstream turns Sigma's `?` into `*`, which matches more.
        if SpecialChars.WILDCARD_SINGLE in value.s:
            raise self.limitation(field, "SPL search has no single-character wildcard (Sigma '?')")
        text = "".join(part for part in value.s if isinstance(part, str))
        # A backslash cannot escape `*` in a search term: a literal `*` would be a wildcard.
        if "*" in text:
            raise self.limitation(
                field, "SPL search has no escape for a literal '*' (it is always a wildcard)"
            )
        self._refuse_control_characters(field, text)

    def _refuse_control_characters(self, field: str, text: str) -> None:
        # SPL documents `\\` and `\"` inside quotes and nothing for control characters: a raw newline
        # or other control character would be sent unescaped, with no parser here to prove its meaning.
        bad = sorted({char for char in text if unicodedata.category(char) in ("Cc", "Zl", "Zp")})
        if bad:
            codes = ", ".join(f"U+{ord(char):04X}" for char in bad)
            raise self.limitation(field, f"SPL has no documented escape for control characters ({codes})")

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        self._refuse_single_wildcard(cond.field, cond.value)
        return super().convert_condition_field_eq_val_str(cond, state)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        self._refuse_single_wildcard(cond.field, cond.value)
        return super().convert_condition_field_eq_val_str_case_sensitive(cond, state)

    def wrap_savedsearches(
        self, rule: SigmaRule | SigmaCorrelationRule, search: str, state: ConversionState
    ) -> str:
        """Upstream's stanza (finalize_query_savedsearches) around the finished search. Upstream wraps
        the query before the pipeline's postprocessing, so the base macro landed in front of the
        stanza, under [default]; and `| table` is part of the search already."""
        settings = self.query_settings(rule)
        settings["description"] = rule.description.strip() if rule.description else ""
        settings["search"] = search
        title = rule.title.translate({ord(c): None for c in "[]"})  # brackets would end the stanza name
        return f"\n[{title}]" + self._generate_settings(settings)

    # ---- chains ---------------------------------------------------------------------------------
    # Upstream correlates in `bin _time` buckets and has no temporal_ordered. Here windows slide
    # (streamstats time_window) and order is enforced; a chain's evidence travels as a tag
    # "<zero-padded start epoch>|<eventID>,<eventID>..." so that max() picks the latest start.
    def chain_query(self, chain: Chain) -> str:
        return chain_spl(chain)

    # ---- regular expressions ----------------------------------------------------------------------
    # Upstream writes a |re as a `| regex` command after the search, which can only AND with it. Under
    # an OR it rewrites the search into `| rex` / `| eval` / `| search` stages, splitting terms such as
    # CASE(...) across them, and crashes on `{}` field names; that path is never taken here. A list
    # of regexes on one field with the same flags is one alternation; any other |re under an OR, or
    # under a NOT of several conditions, is refused.
    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Any:
        merged = self._merged_regexes(cond)
        if merged is not None:
            return self.convert_condition_field_eq_val_re(merged, state)
        return super().convert_condition_or(cond, state)

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Any:
        arg = cond.args[0]
        if isinstance(arg, ConditionOR) and self._merged_regexes(arg) is not None:
            # pySigma hands a negated group's deferred expression up without negating it.
            return self.convert_condition_or(arg, state).negate()
        return super().convert_condition_not(cond, state)

    @staticmethod
    def _merged_regexes(cond: ConditionOR) -> ConditionFieldEqualsValueExpression | None:
        args = cond.args
        if not args or not all(
            isinstance(arg, ConditionFieldEqualsValueExpression)
            and isinstance(arg.value, SigmaRegularExpression)
            for arg in args
        ):
            return None
        values: list[SigmaRegularExpression] = [arg.value for arg in args]  # type: ignore[union-attr]
        if len({arg.field for arg in args}) != 1 or len({frozenset(v.flags) for v in values}) != 1:  # type: ignore[union-attr]
            return None
        alternation = "|".join(f"(?:{value.regexp.original})" for value in values)
        merged = ConditionFieldEqualsValueExpression(
            args[0].field,  # type: ignore[union-attr]
            SigmaRegularExpression(alternation, values[0].flags),
        )
        merged.parent = cond.parent
        return merged

    @staticmethod
    def _regex_as_command(cond: ConditionFieldEqualsValueExpression) -> bool:
        """Whether the `| regex` command says the same as the condition: only ANDs above it, and a NOT
        only directly over it (NOT of an AND is an OR of the negations)."""
        below_and = False
        for parent in cond.parent_chain():
            if not getattr(parent, "operator", False):
                continue  # detections and detection items in the chain
            if isinstance(parent, ConditionNOT):
                if below_and:
                    return False
            elif len(parent.args) > 1:  # type: ignore[union-attr]
                if isinstance(parent, ConditionOR):
                    return False
                below_and = True
        return True

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if not self._regex_as_command(cond):
            raise self.limitation(
                cond.field,
                "a regular expression (|re) under OR, or under NOT of several conditions: SPL runs it as a "
                "`| regex` command after the search, which can only AND with the search",
            )
        assert isinstance(cond.value, SigmaRegularExpression)
        self._refuse_control_characters(cond.field, cond.value.regexp.original)
        return super().convert_condition_field_eq_val_re(cond, state)

    def convert_condition_field_eq_field(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        # Upstream raises a bare NotImplementedError for |fieldref|contains/startswith/endswith.
        if cond.value.starts_with or cond.value.ends_with:
            raise self.limitation(cond.field, "a pattern built from another field (|fieldref|contains etc.)")
        return super().convert_condition_field_eq_field(cond, state)

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        for arg in cond.args:
            self._refuse_single_wildcard(arg.field, arg.value)
        return super().convert_condition_as_in_expression(cond, state)
