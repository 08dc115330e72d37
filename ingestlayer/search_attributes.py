"""Search attributes the workflows set: visible and filterable in the Temporal UI and list queries.

They hold no payload data (search attributes are stored unencrypted)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

SEARCH_ATTRIBUTES: dict[str, str] = {
    "IngestlayerEventType": "Keyword",
    "IngestlayerStatus": "Keyword",
    "IngestlayerDeadLetter": "Bool",
    "IngestlayerDeadLetterDestinations": "KeywordList",
    "IngestlayerPipelines": "KeywordList",
}

EVENT_TYPE = SearchAttributeKey.for_keyword("IngestlayerEventType")
STATUS = SearchAttributeKey.for_keyword("IngestlayerStatus")
DEAD_LETTER = SearchAttributeKey.for_bool("IngestlayerDeadLetter")
DEAD_LETTER_DESTINATIONS = SearchAttributeKey.for_keyword_list("IngestlayerDeadLetterDestinations")
PIPELINES = SearchAttributeKey.for_keyword_list("IngestlayerPipelines")
