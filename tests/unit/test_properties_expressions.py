"""Property tests for the condition parser: it never crashes, and it means what its grammar says.

Valid expressions are generated as a small AST, written out as text, parsed by the module, and
evaluated by both the module and the reference evaluator below, which is written from the
module's documented semantics, not from its code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingestlayer.expressions import MAX_DEPTH, MAX_LENGTH, Expression, ExpressionError, parse

KEYWORDS = ("and", "or", "not", "in", "exists", "true", "false")
NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")

# The reference AST


@dataclass(frozen=True)
class Lit:
    kind: str  # string, number, bool, null, word
    value: Any
    text: str  # what a string field compares with
    source: str  # how it is written


@dataclass(frozen=True)
class Node:
    op: str  # const, cmp, in, exists, not, and, or
    path: tuple[str, ...] = ()
    operator: str = ""
    literals: tuple[Lit, ...] = ()
    negated: bool = False
    children: tuple[Node, ...] = ()
    value: bool = False


MISSING = object()


def ref_lookup(fields: Any, path: tuple[str, ...]) -> Any:
    current = fields
    for part in path:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isascii() and part.isdigit():
            index = int(part)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def ref_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and NUMBER_TEXT.fullmatch(value):
        return float(value) if any(c in value for c in ".eE") else int(value)
    return None


def ref_equals(value: Any, lit: Lit) -> bool:
    if lit.kind == "null":
        return value is None
    if isinstance(value, bool):
        return lit.kind == "bool" and value == lit.value
    if isinstance(value, int | float):
        return lit.kind == "number" and value == lit.value
    if isinstance(value, str):
        return value == lit.text
    return False


def ref_order(value: Any, lit: Lit, operator: str) -> bool:
    if isinstance(value, bool) or lit.kind in ("bool", "null"):
        return False
    left = ref_number(value)
    right = lit.value if lit.kind == "number" else None
    if lit.kind == "string":
        right = ref_number(lit.text)
    if left is not None and right is not None:
        a, b = left, right
    elif isinstance(value, str) and lit.kind in ("string", "word"):
        a, b = value, lit.text
    else:
        return False
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[operator]


def ref_eval(node: Node, fields: dict[str, Any]) -> bool:
    if node.op == "const":
        return node.value
    if node.op == "not":
        return not ref_eval(node.children[0], fields)
    if node.op == "and":
        return all(ref_eval(child, fields) for child in node.children)
    if node.op == "or":
        return any(ref_eval(child, fields) for child in node.children)
    value = ref_lookup(fields, node.path)
    found = value is not MISSING
    if node.op == "exists":
        return found != node.negated
    if node.op == "in":
        candidates = value if isinstance(value, list) else [value]
        member = found and any(ref_equals(c, lit) for c in candidates for lit in node.literals)
        return member != node.negated
    if node.operator in ("=", "=="):
        return found and ref_equals(value, node.literals[0])
    if node.operator == "!=":
        return not (found and ref_equals(value, node.literals[0]))
    return found and ref_order(value, node.literals[0], node.operator)


def ref_paths(node: Node) -> set[str]:
    if node.op in ("cmp", "in", "exists"):
        return {".".join(node.path)}
    return set().union(*(ref_paths(child) for child in node.children))


# Events

names = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True),
    st.sampled_from([*KEYWORDS, "NOT", "Exists", "tier", "status", "0", "1"]),
)
number_text = st.from_regex(r"-?[0-9]{1,5}(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?", fullmatch=True)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=8),
    number_text,
    st.sampled_from(["true", "TRUE", "null", "pro", "2026-03-14", "a-b:c"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
    max_leaves=12,
)
events = st.dictionaries(names, json_values, min_size=1, max_size=6)


def leaf_paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(prefix, value)] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += leaf_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += leaf_paths(item, (*prefix, str(index)))
    return found


# Writing expressions out

WORD_CHARS = st.characters(
    categories=["L", "N"], include_characters="-_.:/@#+*&%=<>!('\"", exclude_characters="\x00"
)


def is_bare_word(text: str) -> bool:
    return (
        bool(text)
        and not NUMBER_TEXT.fullmatch(text)
        and text.lower() not in ("true", "false", "null")
        and text[0] not in "'\"[=<>!("
        and all(not c.isspace() and c not in "]),[" for c in text)
    )


bare_words = st.text(WORD_CHARS, min_size=1, max_size=8).filter(is_bare_word)


def cased(draw: st.DrawFn, word: str) -> str:
    return draw(st.sampled_from([word, word.upper(), word.capitalize()]))


def quoted(draw: st.DrawFn, text: str) -> str:
    quote = draw(st.sampled_from(["'", '"']))
    out = []
    for char in text:
        if char in ("\\", quote):
            out.append("\\" + char)
        elif char == "\n" and draw(st.booleans()):
            out.append("\\n")
        elif char.isalpha() and ord(char) < 0x10000 and draw(st.integers(0, 9)) == 0:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


@st.composite
def literals(draw: st.DrawFn, near: Any = MISSING) -> Lit:
    if isinstance(near, list) and near and draw(st.booleans()):
        near = draw(st.sampled_from(near))
    if near is not MISSING and draw(st.sampled_from([True, True, False])):
        if near is None:
            return Lit("null", None, "null", cased(draw, "null"))
        if isinstance(near, bool):
            word = cased(draw, "true" if near else "false")
            return Lit("bool", near, word, word)
        if isinstance(near, int | float):
            text = repr(near)
            if NUMBER_TEXT.fullmatch(text):
                return Lit("number", ref_number(text), text, text)
        if isinstance(near, str):
            if is_bare_word(near) and draw(st.booleans()):
                return Lit("word", near, near, near)
            if NUMBER_TEXT.fullmatch(near) and draw(st.booleans()):
                return Lit("number", ref_number(near), near, near)
            return Lit("string", near, near, quoted(draw, near))
    kind = draw(st.sampled_from(["string", "number", "bool", "null", "word"]))
    if kind == "string":
        text = draw(st.text(max_size=10))
        return Lit("string", text, text, quoted(draw, text))
    if kind == "number":
        text = draw(number_text)
        return Lit("number", ref_number(text), text, text)
    if kind == "bool":
        flag = draw(st.booleans())
        word = cased(draw, "true" if flag else "false")
        return Lit("bool", flag, word, word)
    if kind == "null":
        word = cased(draw, "null")
        return Lit("null", None, word, word)
    word = draw(bare_words)
    return Lit("word", word, word, word)


@st.composite
def predicates(draw: st.DrawFn, fields: dict[str, Any]) -> Node:
    known = leaf_paths(fields)
    if known and draw(st.sampled_from([True, True, True, False])):
        path, near = draw(st.sampled_from(known))
    else:
        path = tuple(draw(st.lists(names, min_size=1, max_size=3)))
        near = ref_lookup(fields, path)
    kind = draw(st.sampled_from(["cmp", "cmp", "in", "exists"]))
    if kind == "exists":
        return Node("exists", path=path, negated=draw(st.booleans()))
    if kind == "in":
        items = draw(st.lists(literals(near), max_size=4))
        return Node("in", path=path, literals=tuple(items), negated=draw(st.booleans()))
    operator = draw(st.sampled_from(["=", "==", "!=", "<", ">", "<=", ">="]))
    return Node("cmp", path=path, operator=operator, literals=(draw(literals(near)),))


def trees(fields: dict[str, Any]) -> st.SearchStrategy[Node]:
    leaves = st.one_of(
        predicates(fields),
        st.booleans().map(lambda flag: Node("const", value=flag)),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            inner.map(lambda child: Node("not", children=(child,))),
            st.lists(inner, min_size=2, max_size=3).map(lambda c: Node("and", children=tuple(c))),
            st.lists(inner, min_size=2, max_size=3).map(lambda c: Node("or", children=tuple(c))),
        ),
        max_leaves=8,
    )


@st.composite
def write(draw: st.DrawFn, node: Node) -> str:
    def gap() -> str:
        return draw(st.sampled_from([" ", "  ", "\t", "\n", " \r\n "]))

    def tight() -> str:
        return draw(st.sampled_from(["", " "]))

    def wrapped(child: Node, needs: bool) -> str:
        text = draw(write(child))
        if needs or draw(st.integers(0, 5)) == 0:
            return f"({tight()}{text}{tight()})"
        return text

    if node.op == "const":
        return cased(draw, "true" if node.value else "false")
    if node.op == "not":
        child = node.children[0]
        return cased(draw, "not") + gap() + wrapped(child, child.op in ("and", "or"))
    if node.op in ("and", "or"):
        binds_looser = ("or",) if node.op == "and" else ()
        parts = [wrapped(child, child.op in binds_looser) for child in node.children]
        return (gap() + cased(draw, node.op) + gap()).join(parts)
    path = ".".join(node.path)
    if node.path[0].lower() in KEYWORDS or draw(st.integers(0, 4)) == 0:
        path = "$event." + path
    if node.op == "exists":
        negation = cased(draw, "not") + gap() if node.negated else ""
        return path + gap() + negation + cased(draw, "exists")
    if node.op == "in":
        negation = cased(draw, "not") + gap() if node.negated else ""
        items = (tight() + "," + tight()).join(lit.source for lit in node.literals)
        return f"{path}{gap()}{negation}{cased(draw, 'in')}{tight()}[{tight()}{items}{tight()}]"
    return f"{path}{tight()}{node.operator}{tight()}{node.literals[0].source}"


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], Node, str]:
    fields = draw(events)
    node = draw(trees(fields))
    return fields, node, draw(write(node))


# Properties


def assert_typed_error_or_expression(source: str) -> Expression | None:
    try:
        return parse(source)
    except ExpressionError as exc:
        assert 0 <= exc.position <= len(source), (exc.position, len(source))
        assert exc.source == source
        assert exc.message and str(exc.position) in str(exc)
        return None


fragments = st.sampled_from(
    [
        "a", "$event.", "b.c", " ", "(", ")", "[", "]", ",", "=", "==", "!=", "!", "<", ">=",
        "and", "or", "not", "in", "exists", "true", "null", "'", '"', "\\", "\\u00e9", "\\q",
        "1", "-2.5e3", "x-y", "é", "\n",
    ]
)  # fmt: skip
grammar_noise = st.lists(fragments, max_size=30).map("".join)


@settings(max_examples=200)
@given(st.one_of(st.text(max_size=60), grammar_noise), events)
@example("", {})
@example("a = 'unclosed", {})
@example("a in [1, 2", {})
@example("a = \\u12", {})
@example("a = '\\u12", {})
@example("not", {})
@example("(" * (MAX_LENGTH + 10), {})
def test_any_text_parses_or_raises_the_typed_error_with_a_position(
    source: str, fields: dict[str, Any]
) -> None:
    expression = assert_typed_error_or_expression(source)
    if expression is not None:
        assert isinstance(expression.evaluate(fields), bool)


@settings(max_examples=120)
@given(cases())
def test_generated_expressions_parse_and_agree_with_the_reference_evaluator(
    case: tuple[dict[str, Any], Node, str],
) -> None:
    fields, node, source = case
    expression = parse(source)
    assert expression.evaluate(fields) == ref_eval(node, fields), source
    assert expression.paths() == ref_paths(node)


@settings(max_examples=50)
@given(cases())
def test_writing_style_does_not_change_the_meaning(case: tuple[dict[str, Any], Node, str]) -> None:
    fields, node, source = case
    expected = ref_eval(node, fields)
    assert parse(f"  ( {source}\n)\t").evaluate(fields) is expected
    assert parse(f"not ({source})").evaluate(fields) is not expected
    assert parse(f"({source}) and true").evaluate(fields) is expected
    assert parse(f"false or ({source})").evaluate(fields) is expected


@given(events, st.lists(names, min_size=1, max_size=3), st.data())
def test_a_missing_field_equals_nothing_and_does_not_exist(
    fields: dict[str, Any], parts: list[str], data: st.DataObject
) -> None:
    path = tuple(parts)
    if ref_lookup(fields, path) is not MISSING:
        fields = {key: value for key, value in fields.items() if key != parts[0]}
    written = "$event." + ".".join(path)
    literal = data.draw(literals())
    assert not parse(f"{written} = {literal.source}").evaluate(fields)
    assert not parse(f"{written} == {literal.source}").evaluate(fields)
    assert parse(f"{written} != {literal.source}").evaluate(fields)
    assert not parse(f"{written} in [{literal.source}, null]").evaluate(fields)
    assert parse(f"{written} not in [{literal.source}, null]").evaluate(fields)
    assert not parse(f"{written} exists").evaluate(fields)
    for operator in ("<", ">", "<=", ">="):
        assert not parse(f"{written} {operator} {literal.source}").evaluate(fields)


@settings(max_examples=50)
@given(st.integers(0, 12_000), st.sampled_from(["(", "not ", "not (", "( not "]))
@example(10_000, "(")
@example(MAX_DEPTH, "(")
@example(MAX_DEPTH + 1, "(")
def test_deep_nesting_is_the_typed_error_not_a_recursion_error(depth: int, opener: str) -> None:
    closer = ")" * opener.count("(")
    source = opener * depth + "a = 1" + closer * depth
    expression = assert_typed_error_or_expression(source)
    if depth <= MAX_DEPTH // 2:
        assert expression is not None
    if depth > MAX_DEPTH:
        assert expression is None
    if expression is not None:
        expected = depth * opener.count("not") % 2 == 1
        assert expression.evaluate({"a": 1}) is not expected
