"""Loading pipeline YAML: valid files become specs; bad ones name file, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestlayer.config import ConfigError, load, parse_text

VALID = """
pipelines:
  - name: support-escalations
    on: support.ticket.created
    steps:
      - set: {urgency: $event.priority}
      - filter.match: urgency = critical
    destinations:
      - webhook: {url: "https://hooks.example.com/in", auth: {type: hmac, secret: "${SECRET}"}}
        when: customer_tier in [pro, enterprise]
      - webhook: {url: "https://other.example.com/in"}
        retry: {max_attempts: 3, initial_interval: 500ms, max_interval: 1m}
      - name: warehouse
        postgres: {dsn: "${WAREHOUSE_DSN}", table: events.tickets}
        when: true
"""


def test_valid_file_becomes_pipeline_specs() -> None:
    [spec] = parse_text(VALID)
    assert spec.name == "support-escalations"
    assert spec.on == ["support.ticket.created"]
    assert [s.kind for s in spec.steps] == ["set", "filter.match"]
    assert spec.steps[1].args == "urgency = critical"
    names = [d.name for d in spec.destinations]
    assert names == ["webhook-1", "webhook-2", "warehouse"]
    assert spec.destinations[0].options["auth"] == {"type": "hmac", "secret": "${SECRET}"}
    assert spec.destinations[0].when == "customer_tier in [pro, enterprise]"
    assert spec.destinations[1].retry.initial_interval == 0.5
    assert spec.destinations[1].retry.max_interval == 60
    assert spec.destinations[2].when == "true"


def test_secrets_stay_as_references_in_the_spec() -> None:
    [spec] = parse_text(VALID)
    assert spec.destinations[2].options["dsn"] == "${WAREHOUSE_DSN}"


def test_subscription_patterns() -> None:
    [spec] = parse_text("pipelines:\n  - name: p\n    on: [support.*, user.signed_up]\n")
    assert spec.subscribes_to("support.ticket.created")
    assert spec.subscribes_to("user.signed_up")
    assert not spec.subscribes_to("user.deleted")


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "pipes.yml")
    return info.value


def test_bad_expression_names_file_line_and_position() -> None:
    err = _error(
        "pipelines:\n  - name: p\n    on: a.b\n    steps:\n      - filter.match: urgency = \n"
    )
    assert err.path == "pipes.yml"
    assert err.line == 5
    assert "filter.match" in err.reason
    assert "position" in err.reason
    assert str(err).startswith("pipes.yml:5: ")


def test_bad_webhook_url_points_at_its_line() -> None:
    err = _error(
        "pipelines:\n  - name: p\n    on: a.b\n    destinations:\n      - webhook:\n"
        "          url: ftp://example.com\n"
    )
    assert err.line == 6
    assert "url" in err.reason and "http" in err.reason


def test_unknown_destination_kind_is_rejected() -> None:
    err = _error(
        "pipelines:\n  - name: p\n    on: a.b\n    destinations:\n      - carrier_pigeon: {}\n"
    )
    assert err.line == 5
    assert "carrier_pigeon" in err.reason


def test_destination_without_a_kind_is_rejected() -> None:
    err = _error("pipelines:\n  - name: p\n    on: a.b\n    destinations:\n      - when: x = 1\n")
    assert "exactly one kind" in err.reason


def test_step_with_two_kinds_is_rejected() -> None:
    err = _error(
        "pipelines:\n  - name: p\n    on: a.b\n    steps:\n"
        "      - {filter.match: a = 1, set: {b: 2}}\n"
    )
    assert err.line == 5
    assert "exactly one" in err.reason


def test_unknown_step_is_rejected() -> None:
    err = _error("pipelines:\n  - name: p\n    on: a.b\n    steps:\n      - teleport: now\n")
    assert "teleport" in err.reason


def test_duplicate_destination_names_are_rejected() -> None:
    err = _error(
        "pipelines:\n  - name: p\n    on: a.b\n    destinations:\n"
        "      - {name: x, webhook: {url: 'https://a.example'}}\n"
        "      - {name: x, webhook: {url: 'https://b.example'}}\n"
    )
    assert err.line == 2
    assert "'x'" in err.reason


def test_invalid_yaml_reports_its_line() -> None:
    err = _error("pipelines:\n  - name: p\n    on: [unclosed\n")
    assert err.line is not None and err.line >= 3
    assert "YAML" in err.reason


def test_top_level_must_be_a_mapping() -> None:
    assert "mapping" in _error("- just\n- a list\n").reason


def test_missing_on_is_reported() -> None:
    err = _error("pipelines:\n  - name: p\n")
    assert err.line == 2
    assert "on" in err.reason


def test_pipeline_names_are_unique_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("pipelines:\n  - name: same\n    on: a.b\n")
    (tmp_path / "b.yaml").write_text("pipelines:\n  - name: same\n    on: c.d\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    assert "also defined in" in info.value.reason


def test_folder_loads_every_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("pipelines:\n  - name: one\n    on: a.b\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.yaml").write_text("pipelines:\n  - name: two\n    on: c.d\n")
    (tmp_path / "notes.txt").write_text("not config")
    loaded = load(tmp_path)
    assert [p.name for p in loaded.pipelines] == ["one", "two"]
    assert [p.name for p in loaded.for_type("c.d")] == ["two"]


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(tmp_path / "absent")


def test_the_shipped_examples_load() -> None:
    root = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
    loaded = load(root)
    assert loaded.by_name("support-escalations") is not None


def test_io_steps_keep_settings_that_validate_again_in_the_worker() -> None:
    from ingestlayer.classify import ClassifyStep
    from ingestlayer.redaction import RedactStep

    [spec] = parse_text(
        """
pipelines:
  - name: p
    on: a.b
    steps:
      - classify:
          output: urgency
          labels: [low, critical]
          default: low
          model: {provider: rules, rules: [{label: critical, keywords: [down]}]}
      - redact.pii: {fields: [body], operator: mask}
"""
    )
    classify, redact = spec.steps
    assert classify.kind == "classify" and redact.kind == "redact.pii"
    assert ClassifyStep.model_validate(classify.args).output == "urgency"
    assert RedactStep.model_validate(redact.args).operator == "mask"


def test_bad_classify_settings_point_at_their_line() -> None:
    err = _error(
        "pipelines:\n  - name: p\n    on: a.b\n    steps:\n      - classify:\n"
        "          output: urgency\n          labels: [low]\n          default: high\n"
        "          model: {provider: rules, rules: [{label: low, keywords: [x]}]}\n"
    )
    assert err.line is not None and 5 <= err.line <= 9
    assert "classify" in err.reason


@pytest.mark.parametrize(
    ("destination", "named"),
    [
        ('slack: {channel: "#a", token: xoxb-123-written-out}', "slack.token"),
        ('notion: {page: "p1", token: ntn_written_out}', "notion.token"),
        (
            'webhook: {url: "https://h.example/x", auth: {type: bearer, token: abc}}',
            "webhook.auth.token",
        ),
        (
            'webhook: {url: "https://h.example/x", auth: {type: hmac, secrets: ["${OLD}", new]}}',
            "webhook.auth.secrets",
        ),
        ('webhook: {url: "https://h.example/x", headers: {X-Api-Key: k1}}', "webhook.headers"),
        ('postgres: {dsn: "postgresql://u:hunter2@db/x", table: t}', "postgres.dsn"),
        ('postgres: {dsn: "postgresql://u@db/x?password=hunter2", table: t}', "postgres.dsn"),
    ],
)
def test_a_literal_credential_is_refused_at_its_line(destination: str, named: str) -> None:
    err = _error(
        f"pipelines:\n  - name: p\n    on: a.b\n    destinations:\n      - {destination}\n"
    )
    assert err.line == 5
    assert named in err.reason and "${ENV_NAME}" in err.reason
    assert "hunter2" not in str(err) and "xoxb-123" not in str(err)


def test_credentials_as_references_are_accepted() -> None:
    [spec] = parse_text(
        "pipelines:\n  - name: p\n    on: a.b\n    destinations:\n"
        '      - webhook: {url: "https://h.example/x", headers: {Authorization: "Bearer ${T}",'
        " X-Team: blue}, auth: {type: hmac, secrets: ['${OLD}', '${NEW}']}}\n"
        '      - postgres: {dsn: "postgresql://u:${PG_PASSWORD}@db/x", table: t}\n'
        '      - postgres: {dsn: "postgresql://u@db/x", table: t}\n'
    )
    assert len(spec.destinations) == 3
