"""Errors every snaptrail target raises, so a failure always names the rule, the field and the target."""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaTransformationError
from sigma.rule import SigmaRule


def describe_rule(rule: SigmaRule | SigmaCorrelationRule | None) -> str:
    if rule is None:
        return "rule <unknown>"
    where = ""
    if rule.source is not None and rule.source.path is not None:
        where = f"{rule.source.path}: "
    return f"{where}rule '{rule.title}' ({rule.id})"


class UnmappedFieldError(SigmaTransformationError):
    """A rule names a field the target's CloudTrail mapping does not know."""

    def __init__(
        self, rule: SigmaRule | SigmaCorrelationRule | None, field: str, target: str, why: str
    ) -> None:
        super().__init__(
            f"{describe_rule(rule)}: field '{field}' cannot be mapped for target {target}: {why}"
        )
        self.rule = rule
        self.field = field
        self.target = target


class TargetLimitation(SigmaFeatureNotSupportedByBackendError):
    """A construct this target cannot express exactly; raised on purpose instead of an approximate query.

    `snaptrail build` lists these per rule and target; any other conversion error fails the build.
    """

    def __init__(
        self, rule: SigmaRule | SigmaCorrelationRule | None, field: str | None, target: str, why: str
    ) -> None:
        subject = f"field '{field}'" if field else "rule"
        super().__init__(f"{describe_rule(rule)}: {subject} is not supported on target {target}: {why}")
        self.rule = rule
        self.field = field
        self.target = target
        self.why = why


class CurrentRule:
    """Backend mixin: remembers the rule being converted, so that every refusal names it."""

    target: ClassVar[str] = "?"
    _rule: SigmaRule | SigmaCorrelationRule | None = None

    def convert_rule(
        self, rule: SigmaRule, output_format: str | None = None, callback: Any = None
    ) -> list[Any]:
        self._rule = rule
        return super().convert_rule(rule, output_format, callback)  # type: ignore[misc,no-any-return]

    def limitation(self, field: str | None, why: str) -> TargetLimitation:
        return TargetLimitation(self._rule, field, self.target, why)
