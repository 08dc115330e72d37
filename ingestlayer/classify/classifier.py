"""`classify_event`: what the classify activity calls for one event.

Ask the provider; check the answer against the labels; on an invalid answer ask again (telling
the model what was wrong) up to `max_invalid_retries` times, then fall back to `default`, or
fail with `invalid_label` when there is none. Model answers go through the cache; rules are
microseconds of CPU and skip it.
"""

from __future__ import annotations

from ingestlayer.classify.cache import cache_for, cache_key
from ingestlayer.classify.config import ClassifyStep, RulesModel
from ingestlayer.classify.labels import InvalidAnswer, check_label
from ingestlayer.classify.providers import Abstain, Provider, build_provider
from ingestlayer.classify.request import ClassifyRequest, build_request
from ingestlayer.classify.result import ClassifyResult, Outcome
from ingestlayer.destinations.errors import PermanentError
from ingestlayer.events import Event

__all__ = ["classify_event", "run_provider"]

DEFAULT_CALL_SECONDS = 60.0
MAX_LEASE_SECONDS = 900.0


async def classify_event(
    step: ClassifyStep, event: Event, *, cache_dsn: str | None = None
) -> ClassifyResult:
    """Label one event. Raises the shared RetryableError / RateLimitedError / PermanentError.

    `cache_dsn` is the service's own database, needed only by steps with the postgres cache.
    """
    provider = build_provider(step.model)
    request = build_request(step, event)

    async def compute() -> Outcome:
        return await run_provider(step, provider, request)

    if isinstance(step.model, RulesModel) or not step.cache.enabled:
        outcome, shared = await compute(), False
    else:
        cache = cache_for(step.cache, cache_dsn)
        outcome, shared = await cache.get_or_compute(
            cache_key(step, request), compute, ttl=step.cache.ttl, lease=_lease(step)
        )
    return ClassifyResult(
        label=outcome.label,
        output=step.output,
        cached=shared,
        defaulted=outcome.defaulted,
        provider=step.model.provider,
        model=step.model.name,
        attempts=0 if shared else outcome.attempts,
        reason=outcome.reason,
    )


async def run_provider(step: ClassifyStep, provider: Provider, request: ClassifyRequest) -> Outcome:
    reason = ""
    for attempt in range(1, step.max_invalid_retries + 2):
        try:
            answer = await provider.complete(request)
            return Outcome(label=check_label(step.labels, answer), attempts=attempt)
        except InvalidAnswer as exc:
            reason = exc.reason
            request = request.retry(exc.reason, exc.answer)
        except Abstain as exc:
            return _fall_back(step, attempt, exc.reason)
    attempts = step.max_invalid_retries + 1
    return _fall_back(step, attempts, f"the answer was invalid {attempts} times; last: {reason}")


def _fall_back(step: ClassifyStep, attempts: int, reason: str) -> Outcome:
    if step.default is None:
        raise PermanentError(
            f"no valid label for `{step.output}`: {reason}",
            code="invalid_label",
            hint="give the step a `default` label, or make the prompt clearer about the labels",
        )
    return Outcome(label=step.default, attempts=attempts, defaulted=True, reason=reason)


def _lease(step: ClassifyStep) -> float:
    """How long other workers wait on this worker's claim before they take the key over."""
    per_call = float(getattr(step.model, "timeout", DEFAULT_CALL_SECONDS))
    return min(per_call * (step.max_invalid_retries + 1) + 5.0, MAX_LEASE_SECONDS)
