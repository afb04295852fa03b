"""Common base for targets that read CloudTrail paths through expressions (DuckDB, Sentinel, ES|QL).

pySigma's TextQueryBackend fills string templates with a field *name*. Here a field is an
expression (`json_extract_string(raw, ...)`, `tostring(parse_json(RequestParameters).a)`,
`FIELD_EXTRACT(...)`) and, for array steps, a predicate has to be applied to every element
("any element matches"). So this base resolves each field through the CloudTrail registry and
dispatches on the value type itself; a target implements the small set of operations below.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
)

from snaptrail.backends.errors import TargetLimitation, UnmappedFieldError
from snaptrail.cloudtrail.registry import CloudTrailPath, UnknownFieldError, registry

Predicate = Callable[[str], str]

COMPARE_SYMBOLS = {
    SigmaCompareExpression.CompareOperators.LT: "<",
    SigmaCompareExpression.CompareOperators.LTE: "<=",
    SigmaCompareExpression.CompareOperators.GT: ">",
    SigmaCompareExpression.CompareOperators.GTE: ">=",
}


class CloudTrailExpressionBackend(TextQueryBackend):
    """Converts the condition tree; targets supply expressions for paths and operations."""

    target: ClassVar[str] = "?"
    requires_pipeline: ClassVar[bool] = False
    # Value lists are converted element by element; targets with an `in` operator override
    # convert_condition_as_in_expression for scalar fields.
    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False

    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "or"
    and_token: ClassVar[str] = "and"
    not_token: ClassVar[str] = "not"
    eq_token: ClassVar[str] = "="
    str_quote: ClassVar[str] = '"'
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "*"
    wildcard_single: ClassVar[str] = "?"

    _rule: SigmaRule | SigmaCorrelationRule | None = None
    # A chain embeds its steps' complete queries, so referenced rules are finalized too.
    finalize_correlation_subqueries: ClassVar[bool] = True
    # Targets whose any_element takes a general predicate merge OR'ed values on one array path.
    merge_array_disjunctions: ClassVar[bool] = True

    # ---- what a target implements -------------------------------------------------------------
    @abstractmethod
    def scalar_expression(self, path: CloudTrailPath) -> str:
        """Expression reading a path without array steps."""

    @abstractmethod
    def any_element(self, path: CloudTrailPath, predicate: Predicate, state: ConversionState) -> str:
        """Boolean expression: `predicate(element)` holds for at least one value the path reaches."""

    @abstractmethod
    def string_literal(self, text: str) -> str: ...

    @abstractmethod
    def op_equals(self, expr: str, text: str, cased: bool, path: CloudTrailPath) -> str: ...

    @abstractmethod
    def op_wildcard(self, expr: str, value: SigmaString, cased: bool, path: CloudTrailPath) -> str: ...

    @abstractmethod
    def op_regex(self, expr: str, value: SigmaRegularExpression, path: CloudTrailPath) -> str: ...

    @abstractmethod
    def op_cidr(self, expr: str, value: SigmaCIDRExpression, path: CloudTrailPath) -> str: ...

    @abstractmethod
    def op_compare(self, expr: str, symbol: str, number: float | int, path: CloudTrailPath) -> str: ...

    @abstractmethod
    def op_number_equals(self, expr: str, number: float | int, path: CloudTrailPath) -> str: ...

    @abstractmethod
    def op_bool(self, expr: str, value: bool, path: CloudTrailPath) -> str: ...

    @abstractmethod
    def op_is_null(self, expr: str, path: CloudTrailPath) -> str: ...

    @abstractmethod
    def op_exists(self, expr: str, path: CloudTrailPath) -> str: ...

    def null_safe(self, predicate: str) -> str:
        """Languages with three-valued logic make a test on an absent field NULL, and `not NULL`
        drops the row; Sigma says an absent field simply does not match. Targets override."""
        return predicate

    def op_field_equals_field(self, left: str, right: str) -> str:
        raise TargetLimitation(self._rule, None, self.target, "field-to-field comparison is not implemented")

    def op_field_pattern(
        self, path: CloudTrailPath, other: CloudTrailPath, reference: SigmaFieldReference
    ) -> str:
        raise self.limitation(
            path, "a pattern built from another field (|fieldref|contains etc.) is not supported"
        )

    # ---- plumbing -----------------------------------------------------------------------------
    def convert_rule(
        self, rule: SigmaRule, output_format: str | None = None, callback: Any = None
    ) -> list[Any]:
        self._rule = rule
        return super().convert_rule(rule, output_format, callback)

    def resolve(self, field: str | None) -> CloudTrailPath:
        if field is None:
            raise UnmappedFieldError(
                self._rule, "<keyword>", self.target, "keyword searches without a field are not supported"
            )
        try:
            return registry().resolve(field)
        except UnknownFieldError as error:
            raise UnmappedFieldError(self._rule, field, self.target, str(error)) from None

    def limitation(self, path: CloudTrailPath | None, why: str) -> TargetLimitation:
        return TargetLimitation(self._rule, path.sigma_name if path else None, self.target, why)

    def predicate_for(self, cond: ConditionFieldEqualsValueExpression, path: CloudTrailPath) -> Predicate:
        value = cond.value
        match value:
            case SigmaCasedString():
                return lambda e: self._string(e, value, True, path)
            case SigmaString():
                return lambda e: self._string(e, value, False, path)
            case SigmaBool():
                return lambda e: self.op_bool(e, bool(value.boolean), path)
            case SigmaNumber():
                return lambda e: self.op_number_equals(e, value.number, path)
            case SigmaRegularExpression():
                return lambda e: self.op_regex(e, value, path)
            case SigmaCIDRExpression():
                return lambda e: self.op_cidr(e, value, path)
            case SigmaCompareExpression():
                return lambda e: self.op_compare(e, COMPARE_SYMBOLS[value.op], value.number.number, path)
            case SigmaNull():
                return lambda e: self.op_is_null(e, path)
            case SigmaExists():
                if value.exists:
                    return lambda e: self.op_exists(e, path)
                return lambda e: (
                    self.not_token + " " + self.group_expression.format(expr=self.op_exists(e, path))
                )
            case _:
                raise self.limitation(path, f"value type {type(value).__name__} is not supported")

    def _string(self, expr: str, value: SigmaString, cased: bool, path: CloudTrailPath) -> str:
        from snaptrail.backends.values import has_wildcards, plain_text

        if has_wildcards(value):
            return self.op_wildcard(expr, value, cased, path)
        return self.op_equals(expr, plain_text(value), cased, path)

    def convert_condition_field_eq_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        return self.null_safe(self._field_predicate(cond, state))

    def _field_predicate(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> Any:
        path = self.resolve(cond.field)
        if isinstance(cond.value, SigmaFieldReference):
            if cond.value.starts_with or cond.value.ends_with:
                # |fieldref|contains / startswith / endswith: a pattern built from another field.
                return self.op_field_pattern(path, self.resolve(cond.value.field), cond.value)
            other = self.resolve(cond.value.field)
            if path.has_array or other.has_array:
                raise self.limitation(path, "comparing array fields with each other is not supported")
            return self.op_field_equals_field(self.scalar_expression(path), self.scalar_expression(other))
        predicate = self.predicate_for(cond, path)
        if isinstance(cond.value, SigmaNull) and path.has_array:
            # `field: null` on an array path: no element carries a value.
            exists = self.any_element(path, lambda e: self.op_exists(e, path), state)
            return self.not_token + " " + self.group_expression.format(expr=exists)
        if isinstance(cond.value, SigmaExists) and path.has_array:
            exists = self.any_element(path, lambda e: self.op_exists(e, path), state)
            if cond.value.exists:
                return exists
            return self.not_token + " " + self.group_expression.format(expr=exists)
        if path.has_array:
            return self.any_element(path, predicate, state)
        return predicate(self.scalar_expression(path))

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Any:
        """Values OR'ed on one array path become one any-element test: any(a) or any(b) is
        any(a or b), and a target such as KQL then expands the array once instead of per value."""
        args = cond.args
        if len(args) > 1 and all(isinstance(arg, ConditionFieldEqualsValueExpression) for arg in args):
            fields = {arg.field for arg in args}  # type: ignore[union-attr]
            if len(fields) == 1:
                path = self.resolve(next(iter(fields)))
                plain = not any(
                    isinstance(arg.value, (SigmaNull, SigmaExists, SigmaFieldReference)) for arg in args
                )
                if path.has_array and plain and self.merge_array_disjunctions:
                    predicates = [self.predicate_for(arg, path) for arg in args]  # type: ignore[arg-type]
                    merged = self.any_element(
                        path,
                        lambda e: " or ".join(self.group_expression.format(expr=p(e)) for p in predicates),
                        state,
                    )
                    return self.null_safe(merged)
        return super().convert_condition_or(cond, state)

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if not super().decide_convert_condition_as_in_expression(cond, state):
            return False
        args = [arg for arg in cond.args if isinstance(arg, ConditionFieldEqualsValueExpression)]
        path = self.resolve(args[0].field)
        return not path.has_array and all(
            isinstance(arg.value, SigmaString) and not isinstance(arg.value, SigmaCasedString) for arg in args
        )

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        return self.null_safe(self._in_expression(cond, state))

    def _in_expression(self, cond: ConditionOR | ConditionAND, state: ConversionState) -> Any:
        # Default: plain disjunction; targets with an `in` operator override.
        return self.convert_condition_or(ConditionOR(cond.args, cond.source), state)

    def convert_condition_val(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        raise UnmappedFieldError(
            self._rule, "<keyword>", self.target, "keyword searches without a field are not supported"
        )

    @staticmethod
    def is_root(cond: ConditionItem) -> bool:
        parent = cond.parent
        while isinstance(parent, ConditionItem) and not isinstance(
            parent, (ConditionAND, ConditionOR, ConditionNOT)
        ):
            parent = parent.parent
        return not isinstance(parent, (ConditionAND, ConditionOR, ConditionNOT))
