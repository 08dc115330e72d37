"""The redact.pii step: what is redacted, where, how, and what is left alone."""

from __future__ import annotations

import copy
import hashlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

import ingestlayer.redaction.engine as engine_module
from ingestlayer import config
from ingestlayer.redaction import (
    SUPPORTED_ENTITIES,
    RedactionReport,
    RedactStep,
    get_engine,
    recognizers,
    redact_payload,
    redact_payload_async,
    warm_up,
)
from ingestlayer.redaction import payload as payload_module

# One sentence per entity type, and the value that must disappear from it.
SAMPLES: dict[str, tuple[str, str]] = {
    "EMAIL_ADDRESS": (
        "Please write to maria.gonzalez@example.com today.",
        "maria.gonzalez@example.com",
    ),
    "PHONE_NUMBER": ("You can reach me on +1 415 555 0134 after lunch.", "+1 415 555 0134"),
    "PERSON": ("The report was prepared by Laura Chen last week.", "Laura Chen"),
    "CREDIT_CARD": ("The card 4111 1111 1111 1111 was declined.", "4111 1111 1111 1111"),
    "IBAN_CODE": (
        "Refund to IBAN DE89 3704 0044 0532 0130 00 please.",
        "DE89 3704 0044 0532 0130 00",
    ),
    "IP_ADDRESS": ("Requests from 81.2.69.160 are blocked.", "81.2.69.160"),
    "US_SSN": ("For the tax form, my SSN is 536-22-8741.", "536-22-8741"),
    "LOCATION": ("Our office in Berlin cannot log in.", "Berlin"),
}
DECOYS = [
    "2026-11-23T09:15:00Z",
    "2024-03-05 14:22:31",
    "3f2b8c1e-9a4d-4e2b-8f6a-1c2d3e4f5a6b",
    "ORD-2024-118833",
    "INV-000482",
    "v2.14.3",
    "$1,249.00",
]


@pytest.fixture(scope="module", autouse=True)
def loaded() -> None:
    """spaCy and presidio load once for the whole module (once per process, in fact)."""
    warm_up()


def nested(text: str) -> dict[str, Any]:
    """A dict inside a list inside a dict."""
    return {"ticket": {"messages": [{"body": text}], "priority": 2}}


NESTED_FIELD = "ticket.messages.0.body"


@pytest.mark.parametrize("entity", SUPPORTED_ENTITIES)
def test_each_entity_type_is_redacted_in_a_nested_field(entity: str) -> None:
    text, value = SAMPLES[entity]
    redacted, report = redact_payload(nested(text), RedactStep(entities=[entity]))
    body = redacted["ticket"]["messages"][0]["body"]
    assert value not in body
    assert f"<{entity}>" in body
    assert report.fields == {NESTED_FIELD: {entity: 1}}
    assert report.total == 1
    assert redacted["ticket"]["priority"] == 2


@pytest.mark.parametrize(
    "address", ["grace@corp.example", "ops@build.internal", "it@fileserver.local", "a.b@x.co.uk"]
)
def test_addresses_on_private_and_reserved_domains_are_emails_too(address: str) -> None:
    redacted, report = redact_payload(
        {"body": f"reset sent to {address} today"}, RedactStep(entities=["EMAIL_ADDRESS"])
    )
    assert address not in redacted["body"]
    assert report.total == 1


def test_a_dotted_name_without_a_real_suffix_is_not_an_email() -> None:
    redacted, report = redact_payload(
        {"body": "see config@v1.2.3 and user@host.notarealtld"},
        RedactStep(entities=["EMAIL_ADDRESS"]),
    )
    assert report.total == 0
    assert "user@host.notarealtld" in redacted["body"]


def test_every_entity_type_at_once_with_the_default_step() -> None:
    text = " ".join(sample for sample, _ in SAMPLES.values())
    redacted, report = redact_payload({"body": text}, RedactStep())
    for entity, (_, value) in SAMPLES.items():
        assert value not in redacted["body"], entity
        assert report.fields["body"][entity] >= 1, entity


def test_names_in_greetings_and_sign_offs() -> None:
    text = "Hi Kenji,\n\nmy colleague Olumide Novak cannot log in.\n\nThanks,\nMaria Gonzalez"
    redacted, report = redact_payload({"body": text}, RedactStep(entities=["PERSON"]))
    assert redacted["body"] == (
        "Hi <PERSON>,\n\nmy colleague <PERSON> cannot log in.\n\nThanks,\n<PERSON>"
    )
    assert report.fields["body"] == {"PERSON": 3}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hey there Viktor!\nThe export fails.", "Hey there <PERSON>!\nThe export fails."),
        (
            "It fails.\n\n-- \nNoor Sato\n+33 1 23 45 53 11",
            "It fails.\n\n-- \n<PERSON>\n+33 1 23 45 53 11",
        ),
        (
            "Done.\n\nMaria Gonzalez | 201.555.1234\nAcme Corp",
            "Done.\n\n<PERSON> | 201.555.1234\nAcme Corp",
        ),
        ("From: Maria Gonzalez\nSubject: refund", "From: <PERSON>\nSubject: refund"),
        ("Thandiwe Fontaine said the export is broken.", "<PERSON> said the export is broken."),
        ("Could you ask Kenji to call me back?", "Could you ask <PERSON> to call me back?"),
        ("Dr. Emily Carter needs access.", "Dr. <PERSON> needs access."),
        ("My name is Priya Raman.", "My name is <PERSON>."),
        ("I'm Kenji, the office manager.", "I'm <PERSON>, the office manager."),
        ("Please add Sofia Murphy as an admin.", "Please add <PERSON> as an admin."),
        # Not names: left as they are.
        ("Hi team,\nthe export fails.", None),
        ("Thanks, Google fixed it on their side.", None),
        ("Sent from my iPhone", None),
        ("Go to Settings > Billing and open the HubSpot integration.", None),
        ("We use Vandelay Industries for shipping.", None),
        ("It works again.\nDone", None),
    ],
)
def test_name_cues(text: str, expected: str | None) -> None:
    redacted, _ = redact_payload({"body": text}, RedactStep(entities=["PERSON"]))
    assert redacted["body"] == (text if expected is None else expected)


def test_replace_mask_and_hash_operators() -> None:
    text, value = SAMPLES["EMAIL_ADDRESS"]
    replaced, _ = redact_payload({"body": text}, RedactStep(operator="replace"))
    masked, _ = redact_payload({"body": text}, RedactStep(operator="mask"))
    hashed, _ = redact_payload({"body": text}, RedactStep(operator="hash"))
    assert replaced["body"] == text.replace(value, "<EMAIL_ADDRESS>")
    assert masked["body"] == text.replace(value, "*" * len(value))
    digest = hashlib.sha256(value.encode()).hexdigest()
    assert hashed["body"] == text.replace(value, digest)
    again, _ = redact_payload({"body": text}, RedactStep(operator="hash"))
    assert again == hashed  # unsalted: the same value always gives the same digest


def test_allow_list_is_exact_and_ignores_case() -> None:
    text = "Copy Support@Acme.io and maria@example.com, or support@acme.io.example.org."
    redacted, report = redact_payload(
        {"body": text}, RedactStep(entities=["EMAIL_ADDRESS"], allow=["support@acme.io"])
    )
    assert "Support@Acme.io" in redacted["body"]
    assert "maria@example.com" not in redacted["body"]
    assert "support@acme.io.example.org" not in redacted["body"]  # not an exact match
    assert report.fields["body"] == {"EMAIL_ADDRESS": 2}


def test_named_fields_only_and_other_fields_untouched() -> None:
    email = "maria@example.com"
    payload = {
        "subject": f"From {email}",
        "body": f"Reply to {email}",
        "customer": {"notes": f"Prefers {email}", "email": email, "age": 41},
        "tags": [email],
    }
    step = RedactStep(fields=["body", "customer.notes", "customer.age", "missing.path"])
    redacted, report = redact_payload(payload, step)
    assert redacted["body"] == "Reply to <EMAIL_ADDRESS>"
    assert redacted["customer"]["notes"] == "Prefers <EMAIL_ADDRESS>"
    assert redacted["subject"] == payload["subject"]
    assert redacted["customer"]["email"] == email
    assert redacted["customer"]["age"] == 41  # a non-string at a named path is left alone
    assert redacted["tags"] == [email]
    assert report.fields == {"body": {"EMAIL_ADDRESS": 1}, "customer.notes": {"EMAIL_ADDRESS": 1}}


def test_a_path_through_a_list_applies_to_every_element() -> None:
    payload = {"messages": [{"text": "mail a@example.com"}, {"text": "mail b@example.com"}]}
    redacted, report = redact_payload(payload, RedactStep(fields=["messages.text"]))
    assert [m["text"] for m in redacted["messages"]] == ["mail <EMAIL_ADDRESS>"] * 2
    assert set(report.fields) == {"messages.0.text", "messages.1.text"}


def test_default_is_every_string_field_nested_included() -> None:
    payload = {
        "body": "Hi Maria, call +1 415 555 0134.",
        "meta": {"contacts": [{"email": "maria@example.com"}, "or 81.2.69.160"], "count": 7},
        "flag": True,
        "maria@example.com": None,
    }
    redacted, report = redact_payload(payload, RedactStep())
    assert redacted["body"] == "Hi <PERSON>, call <PHONE_NUMBER>."
    assert redacted["meta"]["contacts"] == [{"email": "<EMAIL_ADDRESS>"}, "or <IP_ADDRESS>"]
    assert redacted["meta"]["count"] == 7 and redacted["flag"] is True
    assert "maria@example.com" in redacted  # keys are not values
    assert report.fields == {
        "body": {"PERSON": 1, "PHONE_NUMBER": 1},
        "meta.contacts.0.email": {"EMAIL_ADDRESS": 1},
        "meta.contacts.1": {"IP_ADDRESS": 1},
    }
    assert report.total == 4


def test_score_threshold() -> None:
    # A valid phone number scores 0.6, 0.95 next to a context word such as "phone".
    bare = "Reach me on 415-555-0134."
    with_context = "My phone is 415-555-0134."
    strict = RedactStep(entities=["PHONE_NUMBER"], score_threshold=0.9)
    assert redact_payload({"t": bare}, strict)[0]["t"] == bare
    assert redact_payload({"t": with_context}, strict)[0]["t"] == "My phone is <PHONE_NUMBER>."
    lenient = RedactStep(entities=["PHONE_NUMBER"], score_threshold=0.5)
    assert redact_payload({"t": bare}, lenient)[0]["t"] == "Reach me on <PHONE_NUMBER>."


def test_decoys_are_left_alone() -> None:
    text = (
        "Order ORD-2024-118833 failed at 2026-11-23T09:15:00Z (trace "
        "3f2b8c1e-9a4d-4e2b-8f6a-1c2d3e4f5a6b). Invoice INV-000482 shows $1,249.00 since "
        "2024-03-05 14:22:31 on v2.14.3. Write to maria@example.com."
    )
    redacted, report = redact_payload({"body": text}, RedactStep())
    for decoy in DECOYS:
        assert decoy in redacted["body"], decoy
    assert report.fields == {"body": {"EMAIL_ADDRESS": 1}}


def test_version_numbers_that_look_like_ip_addresses_are_kept() -> None:
    text = "We run version 10.2.0.1 of the agent from 10.2.0.1."
    redacted, report = redact_payload({"body": text}, RedactStep(entities=["IP_ADDRESS"]))
    assert redacted["body"] == "We run version 10.2.0.1 of the agent from <IP_ADDRESS>."
    assert report.total == 1


def test_report_has_counts_and_never_the_values() -> None:
    text = " ".join(sample for sample, _ in SAMPLES.values())
    _, report = redact_payload({"body": text, "other": "nothing here"}, RedactStep())
    dumped = report.model_dump_json()
    for _, value in SAMPLES.values():
        assert value not in dumped
    assert "other" not in report.fields
    assert report.total == sum(report.fields["body"].values()) >= len(SAMPLES)
    assert RedactionReport.model_validate_json(dumped) == report


def test_the_input_payload_is_not_modified() -> None:
    payload = nested(SAMPLES["EMAIL_ADDRESS"][0])
    before = copy.deepcopy(payload)
    redacted, _ = redact_payload(payload, RedactStep())
    assert payload == before
    assert redacted is not payload
    assert redacted["ticket"]["messages"] is not payload["ticket"]["messages"]


def test_nothing_to_redact_returns_an_equal_copy_and_an_empty_report() -> None:
    payload = {"body": "all lowercase, nothing personal", "n": 1, "empty": ""}
    redacted, report = redact_payload(payload, RedactStep())
    assert redacted == payload
    assert report == RedactionReport(fields={}, total=0)


def test_the_engine_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_engine()
    redact_payload({"body": SAMPLES["PERSON"][0]}, RedactStep())
    assert get_engine() is first
    assert get_engine().analyzer is first.analyzer

    # From scratch, with many threads racing for it: still built exactly once.
    builds: list[int] = []

    class Fake:
        def warm(self) -> None:
            pass

    def build() -> Fake:
        builds.append(1)
        return Fake()

    monkeypatch.setattr(engine_module, "_engine", None)
    monkeypatch.setattr(engine_module.RedactionEngine, "build", staticmethod(build))
    seen: list[object] = []
    threads = [
        threading.Thread(target=lambda: seen.append(engine_module.get_engine())) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len({id(obj) for obj in seen}) == 1


def test_memory_stays_flat_over_many_unique_values() -> None:
    """Every new e-mail, name and order id would stay in spaCy's vocabulary without the
    memory zone around each analysis."""
    nlp = get_engine().nlp

    def size() -> tuple[int, int]:
        # Iterate: Vocab.__len__ counts lexemes ever added, even those a zone freed.
        return sum(1 for _ in nlp.vocab), len(nlp.vocab.strings)

    redact_payload({"body": "Hi Zed Quill, I spoke with Ann Brann in Ulm"}, RedactStep())
    before = size()
    for i in range(50):
        text = f"I spoke with Zy{i}x Brann in Kr{i}ville, call 415-555-01{i:02d}, mail q{i}x@ex.com"
        redact_payload({"body": text}, RedactStep())
    assert size() == before


async def test_async_variant_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    original = payload_module.redact_payload

    def recording(
        payload: dict[str, Any], step: RedactStep
    ) -> tuple[dict[str, Any], RedactionReport]:
        threads.append(threading.current_thread().name)
        return original(payload, step)

    monkeypatch.setattr(payload_module, "redact_payload", recording)
    payload = nested(SAMPLES["US_SSN"][0])
    redacted, report = await redact_payload_async(payload, RedactStep())
    assert (redacted, report) == original(payload, RedactStep())
    assert threads and threads[0].startswith("ingestlayer-redact")
    assert threads[0] != threading.current_thread().name


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[:2]))
        raise OSError("network access in a unit test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts


def test_no_network_even_for_a_fresh_suffix_list(
    no_network: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Drop the cached extractor: the public suffix list is loaded again, from the snapshot.
    monkeypatch.setattr(recognizers, "_TLD_EXTRACTOR", None)
    redacted, report = redact_payload(
        {"body": "Mail maria@example.co.uk or bob@example.com"}, RedactStep()
    )
    assert redacted["body"] == "Mail <EMAIL_ADDRESS> or <EMAIL_ADDRESS>"
    assert report.total == 2
    assert no_network == []
    # An e-mail whose domain ends in no public suffix is not valid, so not an e-mail.
    kept, _ = redact_payload({"body": "root@localhost.invalidtld"}, RedactStep())
    assert kept["body"] == "root@localhost.invalidtld"


def test_fast_phone_recognizer_agrees_with_presidios() -> None:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    texts = [
        "Call (415) 555-0134 or 415.555.0199, office +44 20 7946 0958.",
        "Mobile +49 1512 3456789, Paris 01 42 68 53 00, Mumbai +91 98765 43210.",
        "Numbers: 415-555-0134 / 212-555-0187, fax +1 212 555 0123 ext. 12.",
        "UK 020 7946 0958, Berlin 030 12345678, Toronto (416) 555-0198.",
    ]
    fast, stock = recognizers.FastPhoneRecognizer(), PhoneRecognizer()
    for text in texts:
        mine = {(r.start, r.end) for r in fast.analyze(text, ["PHONE_NUMBER"])}
        theirs = {(r.start, r.end) for r in stock.analyze(text, ["PHONE_NUMBER"])}
        assert mine == theirs, text
        assert mine


def test_step_validation() -> None:
    assert RedactStep().entities == list(SUPPORTED_ENTITIES)
    assert RedactStep(entities=["email_address", "EMAIL_ADDRESS"]).entities == ["EMAIL_ADDRESS"]
    with pytest.raises(ValidationError, match="SOCIAL_MEDIA_HANDLE"):
        RedactStep(entities=["EMAIL_ADDRESS", "SOCIAL_MEDIA_HANDLE"])
    with pytest.raises(ValidationError):
        RedactStep.model_validate({"fields": ["body"], "color": "red"})
    with pytest.raises(ValidationError):
        RedactStep(score_threshold=1.5)
    with pytest.raises(ValidationError):
        RedactStep(operator="encrypt")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at least one"):
        RedactStep(fields=[])
    with pytest.raises(ValidationError, match="dotted payload path"):
        RedactStep(fields=["customer..notes"])
    step = RedactStep(fields=["body"])
    with pytest.raises(ValidationError):
        step.operator = "mask"  # type: ignore[misc]


def test_an_unknown_entity_fails_the_pipeline_file_at_load() -> None:
    text = """
pipelines:
  - name: tickets
    on: support.ticket.created
    steps:
      - redact.pii: {fields: [body], entities: [EMAIL_ADDRESS, PASSPORT]}
"""
    with pytest.raises(config.ConfigError, match="PASSPORT") as caught:
        config.parse_text(text, "pipes.yml")
    assert caught.value.line == 6
