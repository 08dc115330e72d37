"""One hypothesis profile for the property tests: bounded, reproducible, no example database."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ingestlayer",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ingestlayer")
