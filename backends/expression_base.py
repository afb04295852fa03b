"""Common base for targets whose fields are expressions over CloudTrail paths (DuckDB, Sentinel, ES|QL).

Scalar predicates are pySigma's: each target is a TextQueryBackend token table (templates, string
quoting and escaping, wildcards, regex escaping and flags) that pySigma fills through
`SigmaString.convert`, `convert_value_str` and `convert_value_re`. Two things are CloudTrail's:

* a field is an expression, not a name: `escape_and_quote_field` renders the path the registry
  resolves (`json_extract_string(raw, ...)`, `tostring(parse_json(RequestParameters).a)`,
  `FIELD_EXTRACT(...)`), so every template reads the field through it;
* an array step means "any element matches": `convert_array_condition` renders the predicate with
  the element as its field (the same templates) and `any_element` wraps it in the target's
  construct (`list_filter`, `mv-apply`, ...).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaString,
)

from snaptrail.backends.errors import CurrentRule, TargetLimitation, UnmappedFieldError
from snaptrail.cloudtrail.registry import CloudTrailPath, UnknownFieldError, registry

Predicate = Callable[[str], str]


def lowercase(cond: ConditionFieldEqualsValueExpression) -> ConditionFieldEqualsValueExpression:
    """The condition with its string value in lower case, for targets that match case-insensitively
    by lowering both sides (`lower(field) = 'value'`): pySigma's templates take the value as given."""
    assert isinstance(cond.value, SigmaString)
    return ConditionFieldEqualsValueExpression(cond.field, cond.value.lower())


def plain_text(value: SigmaString) -> str:
    """A value without wildcards as its text (no escaping): pySigma's conversion with no special syntax."""
    return value.convert(escape_char=None, wildcard_multi=None, wildcard_single=None)


class CloudTrailExpressionBackend(CurrentRule, TextQueryBackend):
    """Converts the condition tree with pySigma; targets supply token tables, path expressions and
    their any-element construct."""

    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "or"
    and_token: ClassVar[str] = "and"
    not_token: ClassVar[str] = "not"
    eq_token: ClassVar[str] = " = "

    # Plain value lists on a scalar field become `field in (...)` (see
    # decide_convert_condition_as_in_expression for which lists qualify).
    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False
    field_in_list_expression: ClassVar[str] = "{field} {op} ({list})"
    list_separator: ClassVar[str] = ", "

    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<",
        CompareOperators.LTE: "<=",
        CompareOperators.GT: ">",
        CompareOperators.GTE: ">=",
    }

    # What pySigma's token table lacks:
    # pySigma has one template for every case-sensitive match; a value without wildcards is
    # compared with the language's equality operator instead.
    case_sensitive_eq_expression: ClassVar[str | None] = None
    # pySigma writes `field<eq_token>value` for numbers and booleans; these languages compare a
    # number after a cast and a boolean in the form the field stores it.
    field_eq_num_expression: ClassVar[str] = "{field}{backend.eq_token}{value}"
    bool_expression: ClassVar[str] = "{field}{backend.eq_token}{value}"
    # Three-valued logic: a test on an absent field is NULL and `not NULL` drops the row, while Sigma
    # says an absent field simply does not match. Every field predicate is wrapped in this.
    null_safe_expression: ClassVar[str] = "{expr}"
    # Targets whose any_element takes a general predicate merge OR'ed values on one array path:
    # any(a) or any(b) is any(a or b), and KQL then expands the array once instead of per value.
    merge_array_disjunctions: ClassVar[bool] = True

    _element: str | None = None  # while rendering an element predicate: the element's expression

    # ---- what a target implements -------------------------------------------------------------
    @abstractmethod
    def scalar_expression(self, path: CloudTrailPath) -> str:
        """Expression reading a path without array steps."""

    def any_element(self, path: CloudTrailPath, predicate: Predicate, state: ConversionState) -> str:
        """Boolean expression: `predicate(element)` holds for at least one value the path reaches.
        Targets without a general construct override convert_array_condition instead."""
        raise self.path_limitation(path, "this target has no any-element construct for array paths")

    # ---- fields -------------------------------------------------------------------------------
    def resolve(self, field: str | None) -> CloudTrailPath:
        if field is None:
            raise UnmappedFieldError(
                self._rule, "<keyword>", self.target, "keyword searches without a field are not supported"
            )
        try:
            return registry().resolve(field)
        except UnknownFieldError as error:
            raise UnmappedFieldError(self._rule, field, self.target, str(error)) from None

    def path_limitation(self, path: CloudTrailPath, why: str) -> TargetLimitation:
        return self.limitation(path.sigma_name, why)

    def escape_and_quote_field(self, field_name: str) -> str:
        """pySigma's hook for the `{field}` of every template: the path's expression, or the element's
        while an any-element predicate is rendered."""
        if self._element is not None:
            return self._element
        return self.scalar_expression(self.resolve(field_name))

    @contextmanager
    def tokens(self, **overrides: Any) -> Iterator[None]:
        """Swap entries of the token table for one conversion (e.g. templates for a typed column).
        Instance attributes shadow the class's, so other instances are not affected."""
        for name, value in overrides.items():
            setattr(self, name, value)
        try:
            yield
        finally:
            for name in overrides:
                delattr(self, name)

    @contextmanager
    def _fields_as(self, element: str) -> Iterator[None]:
        previous, self._element = self._element, element
        try:
            yield
        finally:
            self._element = previous

    # ---- values -------------------------------------------------------------------------------
    @abstractmethod
    def quote_string(self, s: str) -> str:
        """The language's string literal for a text (quotes, and its escapes inside them)."""

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        """pySigma's SigmaString.convert, then the language's string literal. Two levels, unlike
        pySigma's default (which escapes the quote with the pattern's escape character): a pattern's
        escapes are escaped again inside the literal (ES|QL `"\\\\*"`), SQL doubles its quote, and a
        value without wildcards is compared with `=`, which has no metacharacters to escape."""
        if s.contains_special():
            text = s.convert(
                self.escape_char,
                self.wildcard_multi,
                self.wildcard_single,
                self.add_escaped,
                self.filter_chars,
            )
        else:
            text = plain_text(s)
        return self.quote_string(text)

    # ---- field predicates ---------------------------------------------------------------------
    def convert_condition_field_eq_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        path = self.resolve(cond.field)
        try:
            if path.has_array:
                predicate = self.convert_array_condition(cond, path, state)
            else:
                predicate = super().convert_condition_field_eq_val(cond, state)
        except NotImplementedError as error:  # pySigma: a template this target does not define
            raise self.path_limitation(path, str(error)) from None
        return self.null_safe_expression.format(expr=predicate)

    def element_predicate(
        self, cond: ConditionFieldEqualsValueExpression, element: str, state: ConversionState
    ) -> str:
        """The condition rendered by pySigma's dispatch with `element` as its field."""
        with self._fields_as(element):
            return str(super().convert_condition_field_eq_val(cond, state))

    def convert_array_condition(
        self, cond: ConditionFieldEqualsValueExpression, path: CloudTrailPath, state: ConversionState
    ) -> str:
        """The hook for any-element semantics: a predicate on a path with array steps."""
        value = cond.value
        if isinstance(value, SigmaFieldReference):
            return str(self.convert_condition_field_eq_field(cond, state))
        if isinstance(value, (SigmaNull, SigmaExists)):
            # `field: null` and `|exists: false` on an array path: no element carries a value.
            exists = self.any_element(
                path, lambda element: self._exists_predicate(cond, element, state), state
            )
            if isinstance(value, SigmaExists) and value.exists:
                return exists
            return f"{self.not_token} {self.group_expression.format(expr=exists)}"
        return self.any_element(path, lambda element: self.element_predicate(cond, element, state), state)

    def _exists_predicate(
        self, cond: ConditionFieldEqualsValueExpression, element: str, state: ConversionState
    ) -> str:
        with self._fields_as(element):
            return str(self.convert_condition_field_exists(cond, state))

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        value = cond.value
        assert isinstance(value, SigmaString)
        if self.case_sensitive_eq_expression is not None and not value.contains_special():
            return self.case_sensitive_eq_expression.format(
                field=self.escape_and_quote_field(cond.field), value=self.convert_value_str(value, state)
            )
        return super().convert_condition_field_eq_val_str_case_sensitive(cond, state)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        return self.field_eq_num_expression.format(
            field=self.escape_and_quote_field(cond.field), value=cond.value, backend=self
        )

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        assert isinstance(cond.value, SigmaBool)
        return self.bool_expression.format(
            field=self.escape_and_quote_field(cond.field),
            value=self.bool_values[cond.value.boolean],
            backend=self,
        )

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        # pySigma fills the CIDR template with the bare field name; here it is the path's expression.
        assert isinstance(cond.value, SigmaCIDRExpression) and self.cidr_expression is not None
        network = cond.value.network
        return self.cidr_expression.format(
            field=self.escape_and_quote_field(cond.field),
            value=str(network),
            network=network.network_address,
            prefixlen=network.prefixlen,
            netmask=network.netmask,
        )

    def convert_condition_field_eq_val_timestamp_part(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        raise self.path_limitation(
            self.resolve(cond.field), f"value type {type(cond.value).__name__} is not supported"
        )

    def convert_condition_field_eq_query_expr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        raise self.path_limitation(
            self.resolve(cond.field), f"value type {type(cond.value).__name__} is not supported"
        )

    def convert_condition_field_eq_field(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        reference = cond.value
        assert isinstance(reference, SigmaFieldReference)
        path, other = self.resolve(cond.field), self.resolve(reference.field)
        if reference.starts_with or reference.ends_with:
            # |fieldref|contains / startswith / endswith: a pattern built from another field.
            template = (
                self.field_equals_field_contains_expression
                if reference.starts_with and reference.ends_with
                else self.field_equals_field_startswith_expression
                if reference.starts_with
                else self.field_equals_field_endswith_expression
            )
            if template is None:
                raise self.path_limitation(
                    path, "a pattern built from another field (|fieldref|contains etc.) is not supported"
                )
            if path.has_array or other.has_array:
                raise self.path_limitation(
                    path, "a pattern built from another field on an array path is not supported"
                )
        elif path.has_array or other.has_array:
            raise self.path_limitation(path, "comparing array fields with each other is not supported")
        elif self.field_equals_field_expression is None:
            raise self.limitation(None, "field-to-field comparison is not implemented")
        return super().convert_condition_field_eq_field(cond, state)

    # ---- value lists and disjunctions ---------------------------------------------------------
    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Any:
        path = self._single_array_path(cond)
        if path is None:
            return super().convert_condition_or(cond, state)
        args: list[ConditionFieldEqualsValueExpression] = cond.args  # type: ignore[assignment]
        merged = self.any_element(
            path,
            lambda element: " or ".join(
                self.group_expression.format(expr=self.element_predicate(arg, element, state)) for arg in args
            ),
            state,
        )
        return self.null_safe_expression.format(expr=merged)

    def _single_array_path(self, cond: ConditionOR) -> CloudTrailPath | None:
        """The array path of an OR of plain values on one array field (merged into one any-element)."""
        args = cond.args
        if not self.merge_array_disjunctions or len(args) < 2:
            return None
        if not all(isinstance(arg, ConditionFieldEqualsValueExpression) for arg in args):
            return None
        fields = {arg.field for arg in args}  # type: ignore[union-attr]
        if len(fields) != 1:
            return None
        path = self.resolve(next(iter(fields)))
        if not path.has_array or any(
            isinstance(arg.value, (SigmaNull, SigmaExists, SigmaFieldReference))  # type: ignore[union-attr]
            for arg in args
        ):
            return None
        return path

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        # Only plain case-insensitive strings on a scalar path: a list on an array path is an
        # any-element test, and numbers are compared after a cast.
        if not super().decide_convert_condition_as_in_expression(cond, state):
            return False
        args = [arg for arg in cond.args if isinstance(arg, ConditionFieldEqualsValueExpression)]
        return not self.resolve(args[0].field).has_array and all(
            isinstance(arg.value, SigmaString) and not isinstance(arg.value, SigmaCasedString) for arg in args
        )

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        return self.null_safe_expression.format(expr=super().convert_condition_as_in_expression(cond, state))

    @staticmethod
    def lowercase_list(cond: ConditionOR | ConditionAND) -> ConditionOR:
        return ConditionOR(
            [lowercase(arg) for arg in cond.args if isinstance(arg, ConditionFieldEqualsValueExpression)],
            cond.source,
        )

    def convert_condition_val(self, cond: ConditionValueExpression, state: ConversionState) -> Any:
        raise UnmappedFieldError(
            self._rule, "<keyword>", self.target, "keyword searches without a field are not supported"
        )
