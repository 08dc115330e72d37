from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ingestlayer.events import Event
from ingestlayer.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    Expression,
    ExpressionError,
    parse,
)


def ticket_fields(**labels: Any) -> dict[str, Any]:
    event = Event(
        id="evt_1",
        type="support.ticket.created",
        timestamp=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
        payload={
            "subject": "Printer on fire",
            "priority": 3,
            "score": 0.75,
            "vip": True,
            "zip": "01234",
            "status": "200",
            "count": "42",
            "created_at": "2026-03-14",
            "assignee": None,
            "tags": ["billing", "urgent"],
            "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
            "customer": {"tier": "pro", "plan": {"seats": 12}},
        },
        labels=dict(labels),
    )
    return event.fields()


def matches(source: str, fields: dict[str, Any] | None = None) -> bool:
    return parse(source).evaluate(ticket_fields() if fields is None else fields)


def error_for(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    return caught.value


# Equality


def test_bare_word_equals_string_field() -> None:
    assert matches("urgency = critical", ticket_fields(urgency="critical"))


def test_bare_word_not_equal_to_other_string() -> None:
    assert not matches("urgency = critical", ticket_fields(urgency="low"))


def test_double_equals_is_the_same_as_single() -> None:
    assert matches("urgency == critical", ticket_fields(urgency="critical"))


def test_strings_compare_case_sensitively() -> None:
    assert not matches("urgency = Critical", ticket_fields(urgency="critical"))


def test_not_equal_on_different_value_is_true() -> None:
    assert matches("urgency != low", ticket_fields(urgency="critical"))


def test_not_equal_on_same_value_is_false() -> None:
    assert not matches("urgency != critical", ticket_fields(urgency="critical"))


def test_double_quoted_string_with_spaces() -> None:
    assert matches('subject = "Printer on fire"')


def test_single_quoted_string_with_spaces() -> None:
    assert matches("subject = 'Printer on fire'")


def test_quoted_string_backslash_escapes() -> None:
    fields = {"quote": 'she said "hi"\n', "path": "C:\\tmp", "it": "it's", "snow": "\u2603"}
    assert matches(r'quote = "she said \"hi\"\n"', fields)
    assert matches(r'path = "C:\\tmp"', fields)
    assert matches(r"it = 'it\'s'", fields)
    assert matches(r'snow = "\u2603"', fields)


def test_quoted_string_can_hold_operators_and_keywords() -> None:
    fields = {"note": "a = b and (c or d)"}
    assert matches('note = "a = b and (c or d)"', fields)


def test_bare_word_with_dots_and_dashes() -> None:
    assert matches("type = support.ticket.created")
    assert matches("created_at = 2026-03-14")


def test_bare_word_runs_to_closing_paren() -> None:
    assert matches("(urgency = high)", ticket_fields(urgency="high"))


def test_int_field_equals_numeric_literal() -> None:
    assert matches("priority = 3")
    assert not matches("priority = 4")


def test_int_field_equals_float_literal_numerically() -> None:
    assert matches("priority = 3.0")


def test_float_field_equals_float_literal() -> None:
    assert matches("score = 0.75")


def test_negative_number_literal() -> None:
    assert matches("delta = -5", {"delta": -5})
    assert matches("delta < -4.5", {"delta": -5})


def test_number_field_does_not_equal_bare_word() -> None:
    assert not matches("priority = three")


def test_number_field_does_not_equal_quoted_number() -> None:
    assert not matches('priority = "3"')


def test_string_field_compares_with_numeric_literal_source_text() -> None:
    assert matches("zip = 01234")
    assert not matches("zip = 1234")


def test_numeric_literal_matches_number_and_numeric_string() -> None:
    assert matches("status = 200", {"status": 200})
    assert matches("status = 200", {"status": "200"})


def test_bool_field_equals_true_literal() -> None:
    assert matches("vip = true")
    assert not matches("vip = false")


def test_bool_literals_are_case_insensitive() -> None:
    assert matches("vip = TRUE")


def test_bool_field_does_not_equal_number_one() -> None:
    assert not matches("vip = 1")


def test_bool_field_does_not_equal_quoted_true() -> None:
    assert not matches('vip = "true"')


def test_zero_does_not_equal_false() -> None:
    assert not matches("flag = false", {"flag": 0})


def test_string_field_compares_with_bool_literal_source_text() -> None:
    assert matches("flag = true", {"flag": "true"})


def test_null_literal_matches_none() -> None:
    assert matches("assignee = null")
    assert not matches("assignee != null")


def test_null_literal_does_not_match_string_null() -> None:
    assert not matches("assignee = null", {"assignee": "null"})


def test_null_field_is_not_equal_to_a_word() -> None:
    assert not matches("assignee = alice")
    assert matches("assignee != alice")


def test_mapping_field_is_never_equal() -> None:
    assert not matches("customer = pro")


def test_list_field_is_not_equal_to_one_of_its_elements() -> None:
    assert not matches("tags = billing")


# Missing fields


def test_missing_field_is_not_equal() -> None:
    assert not matches("nothing = x")


def test_missing_field_is_not_equal_via_not_equal_operator() -> None:
    assert matches("nothing != x")


@pytest.mark.parametrize("operator", ["<", ">", "<=", ">="])
def test_missing_field_fails_every_ordering(operator: str) -> None:
    assert not matches(f"nothing {operator} 1")


def test_missing_field_is_not_in_any_list() -> None:
    assert not matches("nothing in [a, b]")
    assert matches("nothing not in [a, b]")


def test_missing_nested_field_through_a_string_is_missing() -> None:
    assert not matches("subject.length = 3")
    assert matches("subject.length != 3")


# Ordering


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("priority < 4", True),
        ("priority < 3", False),
        ("priority <= 3", True),
        ("priority > 2", True),
        ("priority > 3", False),
        ("priority >= 3", True),
        ("priority >= 3.5", False),
        ("score > 0.5", True),
    ],
)
def test_numeric_ordering(source: str, expected: bool) -> None:
    assert matches(source) is expected


def test_numeric_string_field_orders_as_a_number() -> None:
    assert matches("count > 9")
    assert matches("count >= 42")
    assert not matches("count < 5")


def test_numeric_ordering_beats_string_ordering() -> None:
    assert matches("version > 10", {"version": "9"}) is False
    assert matches("version < 10", {"version": "9"})


def test_quoted_numeric_literal_orders_as_a_number() -> None:
    assert matches('priority < "10"')


def test_iso_dates_order_as_strings() -> None:
    assert matches("created_at >= 2026-01-01")
    assert matches("created_at < 2026-12-31")
    assert not matches("created_at > 2026-03-14")


def test_iso_timestamp_envelope_field_orders_as_string() -> None:
    assert matches('timestamp >= "2026-03-14T00:00:00Z"')
    assert not matches('timestamp > "2026-03-15"')


def test_words_order_as_strings() -> None:
    assert matches("customer.tier > basic")
    assert matches("customer.tier < zeta")


def test_number_field_against_word_ordering_is_false() -> None:
    assert not matches("priority < abc")
    assert not matches("priority > abc")


def test_non_numeric_string_against_number_ordering_is_false() -> None:
    assert not matches("subject > 5")
    assert not matches("subject < 5")


def test_bool_field_ordering_is_false() -> None:
    assert not matches("vip > 0")
    assert not matches("vip >= true")


def test_null_and_containers_ordering_is_false() -> None:
    assert not matches("assignee < 1")
    assert not matches("tags > a")
    assert not matches("customer >= a")


def test_huge_numeric_string_field_does_not_raise() -> None:
    assert matches("big > 1", {"big": "9" * 5000})


# in / not in


def test_in_list_of_bare_words() -> None:
    assert matches("customer.tier in [pro, enterprise]")
    assert not matches("customer.tier in [free, team]")


def test_not_in_list() -> None:
    assert matches("customer.tier not in [free, team]")
    assert not matches("customer.tier not in [pro, enterprise]")


def test_in_list_of_numbers() -> None:
    assert matches("priority in [1, 2, 3]")
    assert not matches("priority in [4, 5]")


def test_in_list_of_quoted_strings_with_commas() -> None:
    assert matches('label in ["a, b", "c"]', {"label": "a, b"})


def test_in_list_mixes_value_kinds() -> None:
    assert matches("assignee in [alice, null, 3]")
    assert matches("vip in [false, true]")


def test_in_list_field_matches_when_any_element_is_listed() -> None:
    assert matches("tags in [urgent, spam]")
    assert not matches("tags in [spam, ham]")


def test_not_in_list_field_requires_no_element_listed() -> None:
    assert matches("tags not in [spam, ham]")
    assert not matches("tags not in [spam, billing]")


def test_in_empty_list_is_false() -> None:
    assert not matches("customer.tier in []")
    assert matches("customer.tier not in []")


def test_empty_list_field_is_in_nothing() -> None:
    assert not matches("tags in [a]", {"tags": []})


def test_in_list_without_spaces() -> None:
    assert matches("customer.tier in[pro,enterprise]")


def test_in_uses_equality_rules_for_numeric_strings() -> None:
    assert matches("status in [200, 201]")
    assert matches("zip in [01234]")


# exists


def test_exists_on_present_field() -> None:
    assert matches("subject exists")
    assert not matches("subject not exists")


def test_exists_on_missing_field() -> None:
    assert not matches("nothing exists")
    assert matches("nothing not exists")


def test_null_field_exists() -> None:
    assert matches("assignee exists")


def test_exists_on_nested_path() -> None:
    assert matches("customer.plan.seats exists")
    assert not matches("customer.plan.price exists")


# Paths


def test_nested_payload_path() -> None:
    assert matches("customer.tier = pro")
    assert matches("customer.plan.seats >= 10")


def test_explicit_payload_prefix() -> None:
    assert matches("payload.customer.tier = pro")


def test_list_index_path() -> None:
    assert matches("items.0.sku = A-1")
    assert matches("items.1.qty = 1")
    assert not matches("items.2.sku exists")


def test_event_prefix_is_ignored() -> None:
    assert matches("$event.customer.tier = pro")
    assert parse("$event.customer.tier = pro").paths() == {"customer.tier"}


def test_event_prefix_reaches_a_field_named_like_a_keyword() -> None:
    assert matches("$event.not = yes", {"not": "yes"})


def test_labels_win_over_payload_fields() -> None:
    fields = Event(
        id="e",
        type="t",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        payload={"urgency": "low"},
        labels={"urgency": "critical"},
    ).fields()
    assert parse("urgency = critical").evaluate(fields)
    assert parse("labels.urgency = critical").evaluate(fields)


def test_envelope_type_is_matchable() -> None:
    assert matches("type = support.ticket.created")
    assert matches("id = evt_1")


def test_path_with_dash_in_name() -> None:
    assert matches("x-request-id exists", {"x-request-id": "r1"})


def test_operator_needs_no_surrounding_spaces() -> None:
    assert matches("urgency=critical", ticket_fields(urgency="critical"))
    assert matches("priority>=3")
    assert matches("priority!=4")


# Boolean logic


def test_literal_true_alone_matches_everything() -> None:
    assert matches("true", {})


def test_literal_false_alone_matches_nothing() -> None:
    assert not matches("false", {})


def test_and_requires_both() -> None:
    assert matches("priority = 3 and vip = true")
    assert not matches("priority = 3 and vip = false")


def test_or_requires_either() -> None:
    assert matches("priority = 9 or vip = true")
    assert not matches("priority = 9 or vip = false")


def test_not_negates() -> None:
    assert matches("not priority = 9")
    assert not matches("not priority = 3")


def test_double_not() -> None:
    assert matches("not not priority = 3")


def test_keywords_are_case_insensitive() -> None:
    assert matches("NOT priority = 9 AND vip = TRUE Or nothing EXISTS")
    assert matches("customer.tier IN [pro] and tags NOT IN [spam] and nothing Not Exists")


def test_and_binds_tighter_than_or() -> None:
    assert matches("priority = 9 and vip = false or subject exists")
    assert matches("subject exists or priority = 9 and vip = false")


def test_not_binds_tighter_than_and() -> None:
    assert not matches("not vip = true and priority = 3")
    assert matches("not vip = false and priority = 3")


def test_parentheses_override_precedence() -> None:
    assert not matches("(subject exists or priority = 9) and vip = false")
    assert matches("not (priority = 9 and vip = true)")


def test_nested_parentheses() -> None:
    assert matches("((priority = 3) and ((vip = true) or (false)))")


def test_true_and_false_combine_with_conditions() -> None:
    assert matches("false or priority = 3")
    assert not matches("true and priority = 9")


def test_not_directly_before_parenthesis() -> None:
    assert matches("not(priority = 9)")


def test_or_short_circuits_left_to_right() -> None:
    assert matches("true or nothing > 1")


# paths()


def test_paths_lists_every_referenced_field() -> None:
    expression = parse(
        "urgency = critical and (customer.tier in [pro] or $event.items.0.sku exists)"
        " and not tags not in [x]"
    )
    assert expression.paths() == {"urgency", "customer.tier", "items.0.sku", "tags"}


def test_paths_of_constant_is_empty() -> None:
    assert parse("true").paths() == set()


# Parsing properties


def test_parse_is_memoised() -> None:
    assert parse("urgency = critical") is parse("urgency = critical")


def test_parse_returns_an_expression() -> None:
    assert isinstance(parse("a exists"), Expression)


def test_surrounding_whitespace_is_ignored() -> None:
    assert matches("  \n priority = 3\t ")


# Errors


def test_error_message_names_position_and_source() -> None:
    error = error_for("urgency = ")
    assert error.message == "expected a value after '='"
    assert error.position == 10
    assert error.source == "urgency = "
    assert str(error) == "expected a value after '=' at position 10: urgency = "


def test_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse("urgency =")


def test_error_reports_position_of_unclosed_paren() -> None:
    error = error_for("a = 1 and (b = 2")
    assert error.message == "unclosed '('"
    assert error.position == 10


def test_error_reports_position_of_unmatched_closing_paren() -> None:
    error = error_for("a = 1)")
    assert error.message == "unmatched ')'"
    assert error.position == 5


def test_error_reports_position_of_unclosed_bracket() -> None:
    error = error_for("tier in [pro, team")
    assert error.message == "unclosed '['"
    assert error.position == 8


def test_error_reports_unclosed_bracket_after_trailing_comma() -> None:
    assert error_for("tier in [pro,").position == 8


def test_error_reports_position_of_unclosed_quote() -> None:
    error = error_for('a = 1 and b = "abc')
    assert error.message == "unclosed quote"
    assert error.position == 14


def test_error_reports_unclosed_quote_ending_in_backslash() -> None:
    assert error_for("a = 'abc\\").message == "unclosed quote"


def test_error_reports_unknown_escape() -> None:
    error = error_for(r'a = "x\qy"')
    assert error.message == "unknown escape '\\q'"
    assert error.position == 6


def test_error_reports_missing_value_inside_parentheses() -> None:
    error = error_for("(a = )")
    assert error.message == "expected a value after '='"
    assert error.position == 5


def test_error_reports_missing_value_after_comma() -> None:
    error = error_for("a in [x, ]")
    assert error.message == "expected a value after ','"
    assert error.position == 9


def test_error_reports_missing_value_in_empty_slot() -> None:
    assert error_for("a in [, x]").position == 6


def test_error_reports_missing_list_after_in() -> None:
    error = error_for("tier in pro")
    assert error.message == "expected '[' after 'in', found 'pro'"
    assert error.position == 8


def test_error_reports_list_after_equals() -> None:
    error = error_for("tier = [pro]")
    assert "needs 'in'" in error.message
    assert error.position == 7


def test_error_reports_nested_list() -> None:
    assert error_for("tier in [[pro]]").message == "lists cannot be nested"


def test_error_reports_missing_separator_in_list() -> None:
    error = error_for("tier in [pro team]")
    assert error.message == "expected ',' or ']' in the list, found 'team'"
    assert error.position == 13


def test_error_reports_unknown_operator() -> None:
    error = error_for("urgency ~ critical")
    assert error.message.startswith("expected an operator")
    assert error.position == 8


def test_error_reports_bare_exclamation_mark() -> None:
    error = error_for("! a exists")
    assert error.position == 0


def test_error_reports_path_without_operator() -> None:
    error = error_for("urgency")
    assert error.message.startswith("expected an operator")
    assert error.position == 7


def test_error_reports_not_without_in_or_exists() -> None:
    error = error_for("a not = 1")
    assert error.message == "expected 'in' or 'exists' after 'not', found '='"
    assert error.position == 6


def test_error_reports_trailing_junk() -> None:
    error = error_for("a = 1 b = 2")
    assert error.message == "expected 'and', 'or' or the end of the expression, found 'b'"
    assert error.position == 6


def test_error_reports_symbolic_and() -> None:
    assert error_for("a = 1 && b = 2").position == 6


def test_error_reports_dangling_and() -> None:
    error = error_for("a = 1 and")
    assert error.message == "expected a condition after 'and', found the end of the expression"
    assert error.position == 9


def test_error_reports_leading_or() -> None:
    error = error_for("or a = 1")
    assert error.message == "expected a condition, found 'or'"
    assert error.position == 0


def test_error_reports_dangling_not() -> None:
    assert error_for("not").position == 3


def test_error_reports_empty_parentheses() -> None:
    error = error_for("()")
    assert error.message == "expected a condition after '(', found ')'"
    assert error.position == 1


def test_error_reports_unclosed_paren_followed_by_junk() -> None:
    error = error_for("(a = 1 b")
    assert error.message == "expected ')', 'and' or 'or', found 'b'"
    assert error.position == 7


@pytest.mark.parametrize("source", ["", "   ", "\n\t"])
def test_error_reports_empty_expression(source: str) -> None:
    error = error_for(source)
    assert error.message == "empty expression"
    assert error.position == 0


def test_error_reports_invalid_path() -> None:
    error = error_for("a = 1 and b..c = 2")
    assert "not a field path" in error.message
    assert error.position == 10


def test_error_reports_quoted_path() -> None:
    assert error_for('"urgency" = x').position == 0


def test_error_reports_bare_event_prefix() -> None:
    assert "not a field path" in error_for("$event. exists").message


def test_error_reports_other_dollar_reference() -> None:
    assert "not a field path" in error_for("${SECRET} = x").message


def test_error_reports_true_used_as_a_path() -> None:
    assert error_for("true = x").position == 5


# Limits


def test_expression_at_length_limit_parses() -> None:
    source = "a = " + "x" * (MAX_LENGTH - 4)
    assert len(source) == MAX_LENGTH
    assert parse(source).evaluate({"a": "x" * (MAX_LENGTH - 4)})


def test_error_reports_expression_over_length_limit() -> None:
    error = error_for("a = " + "x" * (MAX_LENGTH - 3))
    assert "longer than 4096" in error.message
    assert error.position == MAX_LENGTH


def test_nesting_at_depth_limit_parses() -> None:
    source = "(" * MAX_DEPTH + "a exists" + ")" * MAX_DEPTH
    assert parse(source).evaluate({"a": 1})


def test_error_reports_parentheses_over_depth_limit() -> None:
    source = "(" * (MAX_DEPTH + 1) + "a exists" + ")" * (MAX_DEPTH + 1)
    error = error_for(source)
    assert "deeper than 64" in error.message
    assert error.position == MAX_DEPTH


def test_error_reports_nots_over_depth_limit() -> None:
    error = error_for("not " * (MAX_DEPTH + 1) + "a exists")
    assert "deeper than 64" in error.message
    assert error.position == 4 * MAX_DEPTH


def test_many_chained_ands_are_not_nesting() -> None:
    source = " and ".join(["a exists"] * 300)
    assert parse(source).evaluate({"a": 1})


# Evaluation never raises


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -1.5, float("nan"), "", "text", "42", [], [1, "a", None], {"k": "v"}],
)
@pytest.mark.parametrize(
    "source",
    [
        "f = 1",
        "f != x",
        "f < 1",
        "f >= abc",
        'f > "2"',
        "f <= null",
        "f in [1, a, null, true]",
        "f not in [x]",
        "f.k exists",
        "f.0 = 1",
    ],
)
def test_evaluate_never_raises(source: str, value: Any) -> None:
    assert isinstance(parse(source).evaluate({"f": value}), bool)
