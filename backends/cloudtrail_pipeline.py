"""The parts every snaptrail processing pipeline shares.

Each target's pipeline is: refuse rules that are not `aws/cloudtrail`, then map every field
through the CloudTrail registry with a target-specific naming function. A field the registry
does not know, or one the target cannot name, is an error that names rule, field and target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sigma.correlations import SigmaCorrelationRule
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import RuleFailureTransformation
from sigma.processing.transformations.base import FieldMappingTransformationBase
from sigma.rule import SigmaRule

from snaptrail.backends.errors import TargetLimitation, UnmappedFieldError
from snaptrail.cloudtrail.registry import CloudTrailPath, UnknownFieldError, registry

# Names a path for one target. Raises ValueError when the target stores no such field (a mapping
# error) and NotExpressible when it stores it but the language cannot read it exactly.
Namer = Callable[[CloudTrailPath], str]


class NotExpressible(Exception):
    """The target holds the field but its query language cannot test it exactly."""


def cloudtrail_logsource() -> LogsourceCondition:
    """A fresh condition per processing item: pySigma binds each condition to one pipeline."""
    return LogsourceCondition(product="aws", service="cloudtrail")


PIPELINE_PRIORITY = 20  # after generic pipelines (10), before backend-specific ones


@dataclass
class CloudTrailFieldMapping(FieldMappingTransformationBase):
    """Maps CloudTrail field names to a target's names; unknown fields are errors, never passed through."""

    target: str = "?"
    namer: Namer = field(default=lambda path: path.sigma_name, compare=False, repr=False)

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        self._current_rule = rule
        super().apply(rule)

    def apply_field_name(self, field: str | None) -> str | list[str] | None:
        rule = getattr(self, "_current_rule", None)
        if field is None:
            raise UnmappedFieldError(
                rule, "<keyword>", self.target, "keyword searches without a field are not supported"
            )
        try:
            path = registry().resolve(field)
        except UnknownFieldError as error:
            raise UnmappedFieldError(rule, field, self.target, str(error)) from None
        if isinstance(rule, SigmaCorrelationRule) and path.has_array:
            # A chain groups and counts one value per event; an array would need per-element
            # semantics that no target's windowing (streamstats, joins, EQL `by`) agrees on.
            raise TargetLimitation(
                rule, field, self.target, "a chain key or counted value must be a single value, not an array"
            )
        try:
            return self.namer(path)
        except NotExpressible as error:
            raise TargetLimitation(rule, field, self.target, str(error)) from None
        except ValueError as error:
            raise UnmappedFieldError(rule, field, self.target, str(error)) from None


def cloudtrail_pipeline(
    name: str,
    target: str,
    namer: Namer,
    allowed_backends: Iterable[str],
    extra_items: Iterable[ProcessingItem] = (),
    postprocessing_items: Iterable[object] = (),
) -> ProcessingPipeline:
    return ProcessingPipeline(
        name=name,
        priority=PIPELINE_PRIORITY,
        allowed_backends=frozenset(allowed_backends),
        items=[
            ProcessingItem(
                identifier="snaptrail_require_cloudtrail",
                transformation=RuleFailureTransformation(
                    f"snaptrail's {target} pipeline handles only rules with logsource "
                    "product: aws, service: cloudtrail"
                ),
                rule_conditions=[cloudtrail_logsource()],
                rule_condition_negation=True,
            ),
            ProcessingItem(
                identifier=f"snaptrail_{target}_fields",
                transformation=CloudTrailFieldMapping(target=target, namer=namer),
                rule_conditions=[cloudtrail_logsource()],
            ),
            *extra_items,
        ],
        postprocessing_items=list(postprocessing_items),  # type: ignore[arg-type]
    )
