"""The classify step over real HTTP (a fake OpenAI/Anthropic server) and real Postgres: labels
as the pipeline sees them, errors as the delivery status shows them, and one model call per
distinct request however many workers ask at once."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from ingestlayer.classify import (
    ClassifyResult,
    ClassifyStep,
    Outcome,
    PostgresCache,
    classify_event,
    close_caches,
    memory_cache,
)
from ingestlayer.destinations.errors import (
    DeliveryError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from ingestlayer.destinations.http import shared_client
from ingestlayer.events import Event
from ingestlayer.migrations import migrate
from tests.fakes.llm import LOCAL_MODEL_CALLS, FakeLLM
from tests.fakes.serving import serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
WHEN = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
OPENAI_KEY = "sk-test-" + secrets.token_hex(8)
ANTHROPIC_KEY = "sk-ant-test-" + secrets.token_hex(8)
LABELS = ["low", "high", "critical"]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def llm_server() -> AsyncIterator[tuple[FakeLLM, str]]:
    fake = FakeLLM()
    async with serve(fake.app()) as url:
        yield fake, url
    await close_caches()


@pytest.fixture
def llm(llm_server: tuple[FakeLLM, str], monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    fake, _ = llm_server
    fake.reset()
    memory_cache().clear()
    monkeypatch.setenv("IL_TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("IL_TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    return fake


@pytest.fixture
def url(llm_server: tuple[FakeLLM, str]) -> str:
    return llm_server[1]


@pytest.fixture(scope="session")
async def schemas() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Fresh schemas on demand (one per test that needs a database), all dropped at the end."""
    created: list[str] = []
    conn = await asyncpg.connect(ADMIN_DSN)

    async def create() -> str:
        name = f"ilt_classify_{secrets.token_hex(4)}"
        await conn.execute(f'CREATE SCHEMA "{name}"')
        created.append(name)
        return name

    try:
        yield create
    finally:
        await close_caches()
        for name in created:
            await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        await conn.close()


def dsn_for(schema: str) -> str:
    """The service database with `schema` first on the search_path: tables land there."""
    return f"{ADMIN_DSN}?search_path={schema}"


# --- helpers --------------------------------------------------------------------------------


def make_event(payload: dict[str, Any], labels: dict[str, Any] | None = None) -> Event:
    return Event(
        id=f"evt_{uuid.uuid4().hex}",
        type="support.ticket.created",
        timestamp=WHEN,
        payload=payload,
        labels=labels or {},
    )


def ticket(subject: str = "Checkout is down for everyone", **extra: Any) -> Event:
    return make_event({"subject": subject, "body": "Customers cannot pay.", **extra})


def model_for(provider: str, url: str, **options: Any) -> dict[str, Any]:
    if provider == "openai":
        base = {"api_key": "${IL_TEST_OPENAI_KEY}", "base_url": f"{url}/v1"}
        return {"provider": "openai", "model": "gpt-4o-mini", **base, **options}
    base = {"api_key": "${IL_TEST_ANTHROPIC_KEY}", "base_url": url}
    return {"provider": "anthropic", "model": "claude-haiku-4-5", **base, **options}


def step_for(
    provider: str, url: str, model: dict[str, Any] | None = None, **fields: Any
) -> ClassifyStep:
    config: dict[str, Any] = {
        "output": "urgency",
        "labels": LABELS,
        "model": model_for(provider, url, **(model or {})),
    }
    config.update(fields)
    return ClassifyStep.model_validate(config)


def python_step(callable_: str, **fields: Any) -> ClassifyStep:
    return ClassifyStep.model_validate(
        {
            "output": "urgency",
            "labels": LABELS,
            "model": {"provider": "python", "callable": callable_},
            **fields,
        }
    )


async def failure(step: ClassifyStep, event: Event, **kwargs: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await classify_event(step, event, **kwargs)
    return info.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PROVIDERS = pytest.mark.parametrize("provider", ["openai", "anthropic"])


# --- providers ------------------------------------------------------------------------------


async def test_openai_labels_the_event_through_a_strict_json_schema(llm: FakeLLM, url: str) -> None:
    llm.api_key = OPENAI_KEY
    llm.reply({"urgency": "critical"})
    result = await classify_event(step_for("openai", url), ticket())
    assert result == ClassifyResult(
        label="critical",
        output="urgency",
        cached=False,
        defaulted=False,
        provider="openai",
        model="gpt-4o-mini",
        attempts=1,
        reason=None,
    )
    [request] = llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.json["model"] == "gpt-4o-mini"
    assert request.json["temperature"] == 0
    assert request.json["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "classify_urgency",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"urgency": {"type": "string", "enum": LABELS}},
                "required": ["urgency"],
                "additionalProperties": False,
            },
        },
    }
    roles = [message["role"] for message in request.json["messages"]]
    assert roles == ["system", "user"]
    assert "low, high, critical" in request.user_message  # the default prompt lists the labels
    assert "Checkout is down for everyone" in request.user_message


async def test_anthropic_labels_the_event_through_a_forced_tool_call(
    llm: FakeLLM, url: str
) -> None:
    llm.api_key = ANTHROPIC_KEY
    llm.reply({"urgency": "high"})
    result = await classify_event(step_for("anthropic", url), ticket("Refund please"))
    assert (result.label, result.provider, result.model) == (
        "high",
        "anthropic",
        "claude-haiku-4-5",
    )
    [request] = llm.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == ANTHROPIC_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert (request.json["max_tokens"], request.json["temperature"]) == (1024, 0)
    assert request.json["tool_choice"] == {"type": "tool", "name": "classify_urgency"}
    [tool] = request.json["tools"]
    assert tool["name"] == "classify_urgency"
    assert tool["input_schema"]["properties"] == {"urgency": {"type": "string", "enum": LABELS}}
    assert isinstance(request.json["system"], str)
    assert "Refund please" in request.user_message


async def test_openai_compatible_local_server_needs_no_api_key(llm: FakeLLM, url: str) -> None:
    step = ClassifyStep.model_validate(
        {
            "output": "urgency",
            "labels": LABELS,
            "model": {
                "provider": "openai",
                "model": "llama3.1:8b",
                "base_url": f"{url}/v1/",
                "temperature": None,  # left out of the request
            },
        }
    )
    llm.reply({"urgency": "low"})
    result = await classify_event(step, ticket("How do I export?"))
    assert (result.label, result.model) == ("low", "llama3.1:8b")
    assert "authorization" not in llm.requests[0].headers
    assert "temperature" not in llm.requests[0].json


async def test_python_sync_callable_runs_in_a_thread(llm: FakeLLM) -> None:
    step = python_step("tests.fakes.llm:keyword_model")
    result = await classify_event(step, ticket("Checkout is down"))
    assert (result.label, result.provider, result.model) == (
        "critical",
        "python",
        "tests.fakes.llm:keyword_model",
    )
    assert LOCAL_MODEL_CALLS[-1][0] == "sync"
    assert LOCAL_MODEL_CALLS[-1][1] != threading.get_ident()


async def test_python_async_callable_runs_on_the_loop(llm: FakeLLM) -> None:
    step = python_step("tests.fakes.llm:async_keyword_model")
    result = await classify_event(step, ticket("Refund for order 1234"))
    assert result.label == "high"
    assert LOCAL_MODEL_CALLS[-1] == ("async", threading.get_ident())


async def test_python_callable_sees_only_the_input_fields(llm: FakeLLM) -> None:
    step = python_step("tests.fakes.llm:keyword_model", input=["subject"])
    # "down" only appears in the body, which the callable does not get
    result = await classify_event(step, make_event({"subject": "hello", "body": "site down"}))
    assert result.label == "low"


async def test_python_callable_returning_none_falls_back_to_default(llm: FakeLLM) -> None:
    step = python_step("tests.fakes.llm:keyword_model", default="low")
    result = await classify_event(step, ticket("abstain"))
    assert (result.label, result.defaulted) == ("low", True)
    assert result.reason is not None and "returned no label" in result.reason


async def test_python_callable_errors(llm: FakeLLM) -> None:
    missing = await failure(python_step("tests.fakes.llm:no_such_model"), ticket())
    assert isinstance(missing, PermanentError) and missing.code == "callable_not_found"
    assert missing.hint is not None
    broken = await failure(python_step("tests.fakes.llm:broken_model"), ticket())
    assert type(broken) is RetryableError and broken.code == "callable_failed"
    assert "the local model is not loaded" in broken.message


async def test_rules_first_matching_rule_wins_then_default(llm: FakeLLM) -> None:
    step = ClassifyStep.model_validate(
        {
            "output": "urgency",
            "labels": LABELS,
            "default": "low",
            "model": {
                "provider": "rules",
                "rules": [
                    {"label": "critical", "keywords": ["outage", "down"]},
                    {"label": "high", "pattern": "(?i)refund|chargeback"},
                    {"label": "high", "field": "customer.tier", "keywords": ["enterprise"]},
                ],
            },
        }
    )
    down = await classify_event(step, make_event({"subject": "Checkout is DOWN, refund?"}))
    assert (down.label, down.defaulted, down.provider, down.model) == (
        "critical",
        False,
        "rules",
        None,
    )
    refund = await classify_event(step, make_event({"subject": "Chargeback on invoice 7"}))
    assert refund.label == "high"
    tier = await classify_event(
        step, make_event({"subject": "question", "customer": {"tier": "Enterprise"}})
    )
    assert tier.label == "high"
    # keywords match whole words only: "downtime" is not "down"
    other = await classify_event(step, make_event({"subject": "Planned downtime notice"}))
    assert (other.label, other.defaulted, other.reason) == ("low", True, "no rule matched")
    assert not other.cached and llm.calls == 0


# --- invalid answers ------------------------------------------------------------------------


@PROVIDERS
async def test_invalid_answers_are_retried_then_the_default_is_used(
    llm: FakeLLM, url: str, provider: str
) -> None:
    llm.reply({"urgency": "urgent-ish"})
    llm.reply_raw("I think this is critical")  # not the requested JSON
    llm.reply({"urgency": "meh"})
    step = step_for(provider, url, default="low")
    result = await classify_event(step, ticket())
    assert (result.label, result.defaulted, result.attempts) == ("low", True, 3)
    assert result.reason is not None and "invalid 3 times" in result.reason
    assert '"meh" is not one of: low, high, critical' in result.reason
    assert llm.calls == 3
    # each retry tells the model what was wrong with its last answer
    assert "rejected" not in llm.requests[0].user_message
    assert '"urgent-ish" was rejected' in llm.requests[1].user_message


async def test_an_invalid_answer_then_a_valid_one_is_the_label(llm: FakeLLM, url: str) -> None:
    llm.reply({"urgency": "severe"}, {"urgency": " High "})  # case and spaces are forgiven
    result = await classify_event(step_for("openai", url, default="low"), ticket())
    assert (result.label, result.defaulted, result.attempts) == ("high", False, 2)


async def test_invalid_answers_without_default_are_permanent(llm: FakeLLM, url: str) -> None:
    llm.reply({"urgency": "nope"}, {"urgency": "nope"})
    error = await failure(step_for("openai", url, max_invalid_retries=1), ticket())
    assert isinstance(error, PermanentError)
    assert error.code == "invalid_label"
    assert error.hint is not None and "default" in error.hint
    assert llm.calls == 2


async def test_defaulted_outcome_is_not_cached(llm: FakeLLM, url: str) -> None:
    llm.reply({"urgency": "nope"})
    step = step_for("openai", url, default="low", max_invalid_retries=0)
    first = await classify_event(step, ticket())
    assert first.defaulted
    llm.reply({"urgency": "critical"})
    second = await classify_event(step, ticket())
    assert (second.label, second.cached, llm.calls) == ("critical", False, 2)


async def test_json_schema_labels_are_validated_as_objects(llm: FakeLLM, url: str) -> None:
    labels = {
        "type": "object",
        "properties": {
            "urgency": {"type": "string", "enum": ["low", "high"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["urgency", "score"],
        "additionalProperties": False,
    }
    llm.reply({"urgency": "high", "score": 1.5}, {"urgency": "high", "score": 0.9})
    result = await classify_event(step_for("openai", url, labels=labels, output="triage"), ticket())
    assert (result.label, result.attempts) == ({"urgency": "high", "score": 0.9}, 2)
    assert llm.requests[0].schema == labels  # an object schema is sent as it is
    assert "1.5 is greater than the maximum of 1" in llm.requests[1].user_message


async def test_json_schema_label_that_is_not_an_object_is_wrapped(llm: FakeLLM, url: str) -> None:
    labels = {"type": "integer", "minimum": 1, "maximum": 5}
    llm.reply({"priority": 4})
    step = step_for("anthropic", url, labels=labels, output="priority")
    result = await classify_event(step, ticket())
    assert result.label == 4
    assert llm.requests[0].schema["properties"] == {"priority": labels}


# --- errors ---------------------------------------------------------------------------------


@PROVIDERS
async def test_429_is_rate_limited_with_the_servers_retry_after(
    llm: FakeLLM, url: str, provider: str
) -> None:
    llm.fail(429, retry_after="7")
    error = await failure(step_for(provider, url), ticket())
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0
    assert error.code == "rate_limited"


@pytest.mark.parametrize(("provider", "status"), [("openai", 500), ("anthropic", 529)])
async def test_server_errors_are_retryable(
    llm: FakeLLM, url: str, provider: str, status: int
) -> None:
    llm.fail(status)
    error = await failure(step_for(provider, url), ticket())
    assert type(error) is RetryableError
    assert error.code == f"http_{status}"


@PROVIDERS
async def test_401_is_permanent_with_a_hint_about_the_key(
    llm: FakeLLM, url: str, provider: str
) -> None:
    llm.api_key = "the-right-key"
    error = await failure(step_for(provider, url), ticket())
    assert isinstance(error, PermanentError)
    assert error.code == "unauthorized"
    env = "IL_TEST_OPENAI_KEY" if provider == "openai" else "IL_TEST_ANTHROPIC_KEY"
    assert error.hint is not None and "${" + env + "}" in error.hint
    expected = "Incorrect API key provided" if provider == "openai" else "invalid x-api-key"
    assert expected in error.message  # the provider's own words
    assert OPENAI_KEY not in error.message and ANTHROPIC_KEY not in error.message


async def test_404_is_permanent_with_a_hint_about_the_model(llm: FakeLLM, url: str) -> None:
    llm.fail(404, message="The model `gpt-4o-mini` does not exist or you do not have access.")
    error = await failure(step_for("openai", url), ticket())
    assert isinstance(error, PermanentError) and error.code == "model_not_found"
    assert error.hint is not None and "'gpt-4o-mini'" in error.hint


async def test_400_is_permanent_with_the_providers_message(llm: FakeLLM, url: str) -> None:
    llm.fail(400, message="tools.0.input_schema: JSON schema is invalid")
    error = await failure(step_for("anthropic", url), ticket())
    assert isinstance(error, PermanentError) and error.code == "bad_request"
    assert "tools.0.input_schema: JSON schema is invalid" in error.message


async def test_unreachable_server_and_timeout_are_retryable(llm: FakeLLM, url: str) -> None:
    step = step_for("openai", url, model={"base_url": f"http://127.0.0.1:{closed_port()}/v1"})
    refused = await failure(step, ticket())
    assert type(refused) is RetryableError and refused.code == "connection_error"
    llm.delay = 0.5
    slow = await failure(step_for("openai", url, model={"timeout": "100ms"}), ticket())
    assert type(slow) is RetryableError and slow.code == "timeout"
    await asyncio.sleep(0.5)  # let the fake finish the abandoned request


async def test_missing_api_key_variable_is_permanent(llm: FakeLLM, url: str) -> None:
    step = step_for("openai", url, model={"api_key": "${IL_TEST_NOT_SET}"})
    error = await failure(step, ticket())
    assert isinstance(error, PermanentError) and error.code == "missing_secret"
    assert llm.calls == 0


async def test_prompt_larger_than_the_cap_is_permanent(llm: FakeLLM, url: str) -> None:
    error = await failure(step_for("openai", url), ticket(body="x" * 40_000))
    assert isinstance(error, PermanentError) and error.code == "prompt_too_large"
    assert error.hint is not None and "input" in error.hint
    assert llm.calls == 0


# --- prompt and input -----------------------------------------------------------------------


async def test_prompt_template_renders_event_fields(llm: FakeLLM, url: str) -> None:
    step = step_for(
        "anthropic",
        url,
        prompt="A $event.customer.tier customer ($event.type) wrote: $event.subject",
    )
    await classify_event(step, ticket("Card declined", customer={"tier": "enterprise"}))
    message = llm.requests[0].user_message
    assert message.startswith("A enterprise customer (support.ticket.created) wrote: Card declined")


async def test_input_selects_what_the_model_sees_and_what_the_cache_key_covers(
    llm: FakeLLM, url: str
) -> None:
    narrow = step_for("openai", url, input=["subject", "customer.tier"])
    first = make_event(
        {"subject": "Login broken", "body": "private A", "customer": {"tier": "pro"}}
    )
    second = make_event(
        {"subject": "Login broken", "body": "private B", "customer": {"tier": "pro"}}
    )
    assert not (await classify_event(narrow, first)).cached
    assert (await classify_event(narrow, second)).cached  # the body is not part of the key
    assert llm.calls == 1
    seen = llm.requests[0].user_message
    assert '"customer.tier": "pro"' in seen and "Login broken" in seen
    assert "private" not in seen

    whole = step_for("openai", url)
    assert not (await classify_event(whole, second)).cached
    assert llm.calls == 2
    assert "private B" in llm.requests[1].user_message


# --- in-memory cache and single-flight ------------------------------------------------------


@PROVIDERS
async def test_identical_input_is_answered_from_the_cache(
    llm: FakeLLM, url: str, provider: str
) -> None:
    step = step_for(provider, url)
    llm.reply({"urgency": "critical"})
    first = await classify_event(step, ticket())
    again = await classify_event(step, ticket())  # another event, same content
    assert (first.cached, first.attempts) == (False, 1)
    assert (again.label, again.cached, again.attempts) == ("critical", True, 0)
    assert llm.calls == 1


async def test_ten_concurrent_identical_requests_make_one_model_call(
    llm: FakeLLM, url: str
) -> None:
    llm.delay = 0.3
    llm.reply({"urgency": "high"})
    step = step_for("openai", url)
    results = await asyncio.gather(*(classify_event(step, ticket()) for _ in range(10)))
    assert llm.calls == 1
    assert {r.label for r in results} == {"high"}
    assert sorted(r.cached for r in results) == [False] + [True] * 9


async def test_waiters_share_the_failure_of_the_one_call(llm: FakeLLM, url: str) -> None:
    llm.delay = 0.3
    llm.fail(500)
    step = step_for("openai", url)
    results = await asyncio.gather(
        *(classify_event(step, ticket()) for _ in range(5)), return_exceptions=True
    )
    assert llm.calls == 1
    assert all(type(r) is RetryableError for r in results)
    llm.delay = 0
    assert not (await classify_event(step, ticket())).cached  # the failure was not cached
    assert llm.calls == 2


async def test_different_input_makes_a_second_call(llm: FakeLLM, url: str) -> None:
    step = step_for("openai", url)
    await classify_event(step, ticket("Checkout is down"))
    await classify_event(step, ticket("Checkout is slow"))
    assert llm.calls == 2


async def test_cache_entries_expire_after_their_ttl(llm: FakeLLM, url: str) -> None:
    step = step_for("openai", url, cache={"ttl": "300ms"})
    await classify_event(step, ticket())
    assert (await classify_event(step, ticket())).cached
    await asyncio.sleep(0.4)
    assert not (await classify_event(step, ticket())).cached
    assert llm.calls == 2


async def test_cache_off_calls_the_model_every_time(llm: FakeLLM, url: str) -> None:
    step = step_for("openai", url, cache=False)
    await classify_event(step, ticket())
    assert not (await classify_event(step, ticket())).cached
    assert llm.calls == 2


# --- migrations and the Postgres cache ------------------------------------------------------


async def test_migrations_apply_once_and_are_idempotent(
    schemas: Callable[[], Awaitable[str]],
) -> None:
    schema = await schemas()
    assert await migrate(dsn_for(schema)) == ["0001_classify_cache"]
    assert await migrate(dsn_for(schema)) == []

    racing = await schemas()  # several workers starting at once: one applies, the rest wait
    results = await asyncio.gather(*(migrate(dsn_for(racing)) for _ in range(4)))
    assert sorted(results) == [[], [], [], ["0001_classify_cache"]]

    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        columns = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = $1 AND table_name = 'ingestlayer_classify_cache'"
            " ORDER BY ordinal_position",
            racing,
        )
        applied = await conn.fetchval(f'SELECT count(*) FROM "{racing}".ingestlayer_migrations')
    finally:
        await conn.close()
    assert [(c["column_name"], c["data_type"]) for c in columns] == [
        ("key", "text"),
        ("value", "jsonb"),
        ("created_at", "timestamp with time zone"),
        ("expires_at", "timestamp with time zone"),
    ]
    assert applied == 1


def run_worker(
    step: ClassifyStep, events: list[Event], dsn: str, start: threading.Barrier
) -> list[ClassifyResult]:
    """One worker process in miniature: its own thread, event loop, pool and HTTP client."""

    async def main() -> list[ClassifyResult]:
        client = shared_client()
        try:
            await asyncio.to_thread(start.wait, 10)
            return list(
                await asyncio.gather(*(classify_event(step, e, cache_dsn=dsn) for e in events))
            )
        finally:
            await close_caches()
            await client.aclose()

    return asyncio.run(main())


async def test_postgres_cache_is_shared_by_workers_one_model_call_in_total(
    llm: FakeLLM, url: str, schemas: Callable[[], Awaitable[str]]
) -> None:
    dsn = dsn_for(await schemas())
    step = step_for("openai", url, cache={"backend": "postgres"})
    llm.delay = 0.5
    llm.reply({"urgency": "critical"})
    start = threading.Barrier(2)
    batches = await asyncio.gather(
        asyncio.to_thread(run_worker, step, [ticket() for _ in range(5)], dsn, start),
        asyncio.to_thread(run_worker, step, [ticket() for _ in range(5)], dsn, start),
    )
    results = [r for batch in batches for r in batch]
    assert llm.calls == 1
    assert {r.label for r in results} == {"critical"}
    assert sorted(r.cached for r in results) == [False] + [True] * 9

    # a third worker, later, reads the stored answer
    later = await classify_event(step, ticket(), cache_dsn=dsn)
    assert (later.label, later.cached, llm.calls) == ("critical", True, 1)
    conn = await asyncpg.connect(dsn)
    try:
        [row] = await conn.fetch(
            "SELECT value, expires_at - created_at AS ttl FROM ingestlayer_classify_cache"
        )
    finally:
        await conn.close()
    assert '"label": "critical"' in row["value"]
    assert 86000 < row["ttl"].total_seconds() <= 86400 + 5


async def test_postgres_owner_failure_lets_a_waiting_worker_call(
    schemas: Callable[[], Awaitable[str]],
) -> None:
    dsn = dsn_for(await schemas())
    first, second = PostgresCache(dsn), PostgresCache(dsn)  # two workers
    calls: list[str] = []

    async def failing() -> Outcome:
        calls.append("first")
        await asyncio.sleep(0.3)
        raise RetryableError("model answered 503", code="http_503")

    async def working() -> Outcome:
        calls.append("second")
        return Outcome(label="high", attempts=1)

    try:
        owner = asyncio.create_task(first.get_or_compute("k1", failing, ttl=60, lease=30))
        await asyncio.sleep(0.15)  # the first worker holds the claim
        waiter = asyncio.create_task(second.get_or_compute("k1", working, ttl=60, lease=30))
        with pytest.raises(RetryableError):
            await owner
        assert await waiter == (Outcome(label="high", attempts=1), False)
        assert calls == ["first", "second"]
    finally:
        await first.close()
        await second.close()


async def claimed(dsn: str, key: str, within: float = 10.0) -> None:
    """Until another cache has claimed `key` (its row exists, with no answer yet)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within
        while True:
            with contextlib.suppress(asyncpg.UndefinedTableError):
                if await conn.fetchval(
                    "SELECT count(*) FROM ingestlayer_classify_cache"
                    " WHERE key = $1 AND value IS NULL",
                    key,
                ):
                    return
            assert time.monotonic() < deadline, f"{key} was never claimed"
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def test_postgres_claim_of_a_stuck_worker_expires(
    schemas: Callable[[], Awaitable[str]],
) -> None:
    dsn = dsn_for(await schemas())
    stuck, healthy = PostgresCache(dsn), PostgresCache(dsn)
    release = asyncio.Event()

    async def hangs() -> Outcome:
        await release.wait()
        return Outcome(label="low", attempts=1)

    async def answers() -> Outcome:
        return Outcome(label="critical", attempts=1)

    try:
        hung = asyncio.create_task(stuck.get_or_compute("k2", hangs, ttl=60, lease=1.0))
        await claimed(dsn, "k2")
        started = asyncio.get_running_loop().time()
        outcome, shared = await healthy.get_or_compute("k2", answers, ttl=60, lease=30)
        assert (outcome.label, shared) == ("critical", False)
        assert asyncio.get_running_loop().time() - started >= 0.25  # waited for the lease
        release.set()
        assert (await hung)[0].label == "low"
        # the stuck worker's late answer does not overwrite the claim it lost
        assert (await healthy.get_or_compute("k2", hangs, ttl=60, lease=30)) == (
            Outcome(label="critical", attempts=1),
            True,
        )
    finally:
        release.set()
        await stuck.close()
        await healthy.close()


async def test_postgres_cache_without_a_database_is_permanent(llm: FakeLLM, url: str) -> None:
    step = step_for("openai", url, cache={"backend": "postgres"})
    error = await failure(step, ticket())
    assert isinstance(error, PermanentError) and error.code == "no_database_url"
    assert llm.calls == 0
