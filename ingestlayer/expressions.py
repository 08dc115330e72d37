"""Conditions for `filter.match` and a destination's `when`, parsed by hand and never `eval`ed.

Grammar, loosest binding first::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | "true" | "false" | predicate
    predicate  := path ("=" | "==" | "!=" | "<" | ">" | "<=" | ">=") value
                | path ["not"] "in" "[" [value ("," value)*] "]"
                | path ["not"] "exists"

Keywords are case-insensitive. A path is names joined by `.` (`payload.customer.tier`,
`items.0.sku`), optionally prefixed by `$event.`, which is also how to reach a field whose
name is a keyword (`$event.not`). A value is a quoted string (backslash escapes), a number,
`true`/`false`/`null`, or a bare word running to whitespace, `]`, `,` or `)`.

Semantics, chosen so that evaluating never raises on whatever a payload holds:

- A missing field makes `=`, `<`, `>`, `<=`, `>=`, `in` and `exists` false, and `!=` and
  `not in` true. A field present with a JSON null exists.
- Equality: a number field (never a bool) equals a numeric literal numerically; a bool field
  equals `true`/`false`; a string field compares with a quoted string's value or with an
  unquoted literal's source text, so `zip = 01234` matches "01234" and `status = 200`
  matches both 200 and "200"; `null` matches only null. Strings are case-sensitive.
  Anything else is unequal.
- Ordering is numeric when both sides are numbers, counting numeric strings ("42") as
  numbers; otherwise it compares strings when both sides are strings (so ISO dates order
  correctly); otherwise it is false.
- `in` is true when the field equals any listed value; when the field is a list, when any
  of its elements does.

Parsing is pure and memoised because workflow code calls it on every replay.
"""

from __future__ import annotations

import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from ingestlayer.events import lookup

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "And",
    "Comparison",
    "Constant",
    "Exists",
    "Expression",
    "ExpressionError",
    "Literal",
    "LiteralKind",
    "Membership",
    "Not",
    "Or",
    "parse",
]

MAX_LENGTH = 4096
MAX_DEPTH = 64

_EVENT_PREFIX = "$event."
_PATH_RE = re.compile(r"(?:\$event\.)?[\w-]+(?:\.[\w-]+)*")
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
_WORD_STOP = frozenset("()[],'\"=!<>")
_VALUE_STOP = frozenset("]),")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "/": "/", "n": "\n", "t": "\t", "r": "\r"}
_COMPARISON_OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">")
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


class ExpressionError(ValueError):
    """A syntax error with the offset a config loader or editor can point at."""

    def __init__(self, message: str, position: int, source: str) -> None:
        super().__init__(message, position, source)
        self.message = message
        self.position = position
        self.source = source

    def __str__(self) -> str:
        return f"{self.message} at position {self.position}: {self.source}"


class Expression(ABC):
    """A parsed condition; immutable, so one parse can be shared by every evaluation."""

    @abstractmethod
    def evaluate(self, fields: Mapping[str, Any]) -> bool:
        """Whether the event whose `Event.fields()` these are satisfies the condition."""

    @abstractmethod
    def paths(self) -> set[str]:
        """Field paths the condition reads, without any `$event.` prefix."""


class LiteralKind(Enum):
    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    NULL = "null"
    WORD = "word"


@dataclass(frozen=True)
class Literal:
    """A value as written; `text` keeps the source spelling that string fields compare with."""

    kind: LiteralKind
    value: Any
    text: str


@dataclass(frozen=True)
class Constant(Expression):
    value: bool

    def evaluate(self, fields: Mapping[str, Any]) -> bool:
        return self.value

    def paths(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class Not(Expression):
    operand: Expression

    def evaluate(self, fields: Mapping[str, Any]) -> bool:
        return not self.operand.evaluate(fields)

    def paths(self) -> set[str]:
        return self.operand.paths()


@dataclass(frozen=True)
class And(Expression):
    operands: tuple[Expression, ...]

    def evaluate(self, fields: Mapping[str, Any]) -> bool:
        return all(operand.evaluate(fields) for operand in self.operands)

    def paths(self) -> set[str]:
        return set().union(*(operand.paths() for operand in self.operands))


@dataclass(frozen=True)
class Or(Expression):
    operands: tuple[Expression, ...]

    def evaluate(self, fields: Mapping[str, Any]) -> bool:
        return any(operand.evaluate(fields) for operand in self.operands)

    def paths(self) -> set[str]:
        return set().union(*(operand.paths() for operand in self.operands))


@dataclass(frozen=True)
class Comparison(Expression):
    path: str
    operator: str
    literal: Literal

    def evaluate(self, fields: Mapping[str, Any]) -> bool:
        found, value = _resolve(fields, self.path)
        if self.operator in ("=", "=="):
            return found and _equals(value, self.literal)
        if self.operator == "!=":
            return not (found and _equals(value, self.literal))
        return found and _ordered(value, self.literal, _ORDERINGS[self.operator])

    def paths(self) -> set[str]:
        return {self.path}


@dataclass(frozen=True)
class Membership(Expression):
    path: str
    literals: tuple[Literal, ...]
    negated: bool = False

    def evaluate(self, fields: Mapping[str, Any]) -> bool:
        found, value = _resolve(fields, self.path)
        candidates = value if isinstance(value, list) else [value]
        member = found and any(
            _equals(candidate, literal) for candidate in candidates for literal in self.literals
        )
        return member != self.negated

    def paths(self) -> set[str]:
        return {self.path}


@dataclass(frozen=True)
class Exists(Expression):
    path: str
    negated: bool = False

    def evaluate(self, fields: Mapping[str, Any]) -> bool:
        found, _ = _resolve(fields, self.path)
        return found != self.negated

    def paths(self) -> set[str]:
        return {self.path}


def parse(source: str) -> Expression:
    """Parse a condition, raising ExpressionError with the offending position."""
    return _parse_cached(source)


@lru_cache(maxsize=1024)
def _parse_cached(source: str) -> Expression:
    return _Parser(source).parse()


def _resolve(fields: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    return lookup(fields, path.split("."))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_from_text(text: str) -> int | float | None:
    if not _NUMBER_RE.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _equals(value: Any, literal: Literal) -> bool:
    if literal.kind is LiteralKind.NULL:
        return value is None
    if isinstance(value, bool):
        return literal.kind is LiteralKind.BOOL and value is literal.value
    if _is_number(value):
        return literal.kind is LiteralKind.NUMBER and bool(value == literal.value)
    if isinstance(value, str):
        return value == literal.text
    return False


def _ordered(value: Any, literal: Literal, compare: Callable[[Any, Any], bool]) -> bool:
    if isinstance(value, bool) or literal.kind in (LiteralKind.BOOL, LiteralKind.NULL):
        return False
    left = value if _is_number(value) else None
    if isinstance(value, str):
        left = _number_from_text(value)
    right = literal.value if literal.kind is LiteralKind.NUMBER else None
    if literal.kind is LiteralKind.STRING:
        right = _number_from_text(literal.text)
    if left is not None and right is not None:
        return bool(compare(left, right))
    if isinstance(value, str) and literal.kind in (LiteralKind.STRING, LiteralKind.WORD):
        return bool(compare(value, literal.text))
    return False


def _describe(text: str) -> str:
    return f"'{text}'" if text else "the end of the expression"


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int

    @property
    def keyword(self) -> str | None:
        return self.text.lower() if self.kind == "word" else None


class _Parser:
    """Recursive descent over a scanner that reads values differently from paths.

    Bare values may contain characters (`-`, `:`, `.`, `=`) that would split a path, so the
    parser asks for a value explicitly right after an operator instead of pre-tokenising.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.position = 0
        self.depth = 0

    def parse(self) -> Expression:
        if len(self.source) > MAX_LENGTH:
            raise self._error(f"expression is longer than {MAX_LENGTH} characters", MAX_LENGTH)
        if not self.source.strip():
            raise self._error("empty expression", 0)
        expression = self._or(None)
        token = self._next()
        if token.kind == ")":
            raise self._error("unmatched ')'", token.position)
        if token.kind != "end":
            raise self._error(
                f"expected 'and', 'or' or the end of the expression, found {_describe(token.text)}",
                token.position,
            )
        return expression

    def _error(self, message: str, position: int) -> ExpressionError:
        return ExpressionError(message, position, self.source)

    def _skip_space(self) -> None:
        while self.position < len(self.source) and self.source[self.position].isspace():
            self.position += 1

    def _next(self) -> _Token:
        self._skip_space()
        start = self.position
        if start >= len(self.source):
            return _Token("end", "", start)
        char = self.source[start]
        if char in "()[],":
            self.position += 1
            return _Token(char, char, start)
        if char in "'\"":
            self._read_string()
            return _Token("string", self.source[start : self.position], start)
        for symbol in _COMPARISON_OPERATORS:
            if self.source.startswith(symbol, start):
                self.position += len(symbol)
                return _Token("operator", symbol, start)
        if char == "!":
            raise self._error("unexpected '!' (write 'not' or '!=')", start)
        while self.position < len(self.source):
            char = self.source[self.position]
            if char.isspace() or char in _WORD_STOP:
                break
            self.position += 1
        return _Token("word", self.source[start : self.position], start)

    def _peek(self) -> _Token:
        saved = self.position
        token = self._next()
        self.position = saved
        return token

    def _enter(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(f"expression is nested deeper than {MAX_DEPTH} levels", position)

    def _or(self, after: _Token | None) -> Expression:
        operands = [self._and(after)]
        while (token := self._peek()).keyword == "or":
            self._next()
            operands.append(self._and(token))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self, after: _Token | None) -> Expression:
        operands = [self._not(after)]
        while (token := self._peek()).keyword == "and":
            self._next()
            operands.append(self._not(token))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _not(self, after: _Token | None) -> Expression:
        token = self._peek()
        if token.keyword != "not":
            return self._primary(after)
        self._next()
        self._enter(token.position)
        operand = self._not(token)
        self.depth -= 1
        return Not(operand)

    def _primary(self, after: _Token | None) -> Expression:
        token = self._next()
        if token.kind == "(":
            self._enter(token.position)
            inner = self._or(token)
            closing = self._next()
            if closing.kind == "end":
                raise self._error("unclosed '('", token.position)
            if closing.kind != ")":
                raise self._error(
                    f"expected ')', 'and' or 'or', found {_describe(closing.text)}",
                    closing.position,
                )
            self.depth -= 1
            return inner
        if token.keyword in ("true", "false"):
            return Constant(token.keyword == "true")
        if token.kind == "word" and token.keyword not in ("and", "or", "in", "exists"):
            return self._predicate(token)
        context = f" after '{after.text}'" if after else ""
        raise self._error(
            f"expected a condition{context}, found {_describe(token.text)}", token.position
        )

    def _predicate(self, path_token: _Token) -> Expression:
        if not _PATH_RE.fullmatch(path_token.text):
            raise self._error(
                f"'{path_token.text}' is not a field path (names joined by '.')",
                path_token.position,
            )
        path = path_token.text.removeprefix(_EVENT_PREFIX)
        token = self._next()
        if token.kind == "operator":
            return Comparison(path, token.text, self._value(token, in_list=False))
        negated = token.keyword == "not"
        if negated:
            token = self._next()
            if token.keyword not in ("in", "exists"):
                raise self._error(
                    f"expected 'in' or 'exists' after 'not', found {_describe(token.text)}",
                    token.position,
                )
        if token.keyword == "in":
            return Membership(path, self._list(token), negated)
        if token.keyword == "exists":
            return Exists(path, negated)
        raise self._error(
            "expected an operator (=, !=, <, >, <=, >=, in, not in, exists) "
            f"after '{path_token.text}', found {_describe(token.text)}",
            token.position,
        )

    def _list(self, in_token: _Token) -> tuple[Literal, ...]:
        opening = self._next()
        if opening.kind != "[":
            raise self._error(
                f"expected '[' after '{in_token.text}', found {_describe(opening.text)}",
                opening.position,
            )
        literals: list[Literal] = []
        if self._peek().kind == "]":
            self._next()
            return ()
        after = opening
        while True:
            self._skip_space()
            if self.position >= len(self.source):
                raise self._error("unclosed '['", opening.position)
            literals.append(self._value(after, in_list=True))
            after = self._next()
            if after.kind == "]":
                return tuple(literals)
            if after.kind == "end":
                raise self._error("unclosed '['", opening.position)
            if after.kind != ",":
                raise self._error(
                    f"expected ',' or ']' in the list, found {_describe(after.text)}",
                    after.position,
                )

    def _value(self, after: _Token, *, in_list: bool) -> Literal:
        self._skip_space()
        start = self.position
        char = self.source[start] if start < len(self.source) else ""
        if char in ("'", '"'):
            text = self._read_string()
            return Literal(LiteralKind.STRING, text, text)
        if char == "[":
            if in_list:
                raise self._error("lists cannot be nested", start)
            raise self._error(f"a list value needs 'in', not '{after.text}'", start)
        if not char or char in _VALUE_STOP:
            raise self._error(f"expected a value after '{after.text}'", start)
        while self.position < len(self.source):
            char = self.source[self.position]
            if char.isspace() or char in _VALUE_STOP:
                break
            self.position += 1
        return _bare_literal(self.source[start : self.position])

    def _read_string(self) -> str:
        start = self.position
        quote = self.source[start]
        self.position += 1
        parts: list[str] = []
        while self.position < len(self.source):
            char = self.source[self.position]
            if char == quote:
                self.position += 1
                return "".join(parts)
            if char == "\\":
                parts.append(self._read_escape(start))
            else:
                parts.append(char)
                self.position += 1
        raise self._error("unclosed quote", start)

    def _read_escape(self, quote_position: int) -> str:
        backslash = self.position
        if backslash + 1 >= len(self.source):
            raise self._error("unclosed quote", quote_position)
        code = self.source[backslash + 1]
        if code in _ESCAPES:
            self.position += 2
            return _ESCAPES[code]
        digits = self.source[backslash + 2 : backslash + 6]
        if code == "u" and len(digits) == 4 and all(d in "0123456789abcdefABCDEF" for d in digits):
            self.position += 6
            return chr(int(digits, 16))
        raise self._error(f"unknown escape '\\{code}'", backslash)


def _bare_literal(text: str) -> Literal:
    number = _number_from_text(text)
    if number is not None:
        return Literal(LiteralKind.NUMBER, number, text)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return Literal(LiteralKind.BOOL, lowered == "true", text)
    if lowered == "null":
        return Literal(LiteralKind.NULL, None, text)
    return Literal(LiteralKind.WORD, text, text)
