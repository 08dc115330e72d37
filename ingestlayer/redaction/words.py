"""The words the name rules read: greetings, sign-offs, cue words, and words that are not names.

Plain data, kept apart from the rules in `names.py`. Everything is lower case except
`NAME_PREFIXES`.
"""

from __future__ import annotations

GREETINGS = frozenset(
    {"hi", "hello", "hey", "dear", "hiya", "howdy", "greetings", "morning", "afternoon", "evening"}
)
CLOSINGS = frozenset(
    {
        "thanks",
        "thank you",
        "thanks in advance",
        "thank you in advance",
        "thanks again",
        "thank you again",
        "many thanks",
        "thanks so much",
        "thank you so much",
        "with thanks",
        "best",
        "regards",
        "best regards",
        "kind regards",
        "warm regards",
        "warmest regards",
        "many regards",
        "cheers",
        "sincerely",
        "yours sincerely",
        "sincerely yours",
        "yours truly",
        "best wishes",
        "all the best",
        "respectfully",
        "take care",
        "talk soon",
        "thx",
        "ty",
        "br",
        "kr",
        "rgds",
    }
)
CLOSING_FIRST = frozenset(phrase.split()[0] for phrase in CLOSINGS)
TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame"})
INTROS: dict[str, tuple[tuple[tuple[str, ...], bool], ...]] = {
    # first word -> (whole phrase, strong); after a weak one the run must look like a name
    "my": ((("my", "name", "is"), True), (("my", "name's"), True), (("my", "name\u2019s"), True)),
    "name": ((("name", "is"), True),),
    "this": ((("this", "is"), False),),
    "i": ((("i", "am"), False),),
    "i'm": ((("i'm",), False),),
    "i\u2019m": ((("i\u2019m",), False),),
}
# Words after which a capitalized run is a person: "ask Maria to", "cc'd Tomas Volkov",
# "my colleague Olumide Novak", "spoke with Lars Raman", "add Sofia Murphy as an admin".
BEFORE_NAME = frozenset({"ask", "asked", "asking", "tell", "told", "cc'd", "cc", "colleague", "coworker", "co-worker", "manager", "boss", "assistant", "agent"})  # fmt: skip
BEFORE_NAME_PAIRS = {w: frozenset({"with", "to"}) for w in ("spoke", "talked", "speaking", "talking", "chatted", "met")}  # fmt: skip
# Form and header labels followed by a person: "From: Maria Gonzalez", "Account holder: ...".
LABELS = frozenset({"name", "contact", "holder", "cardholder", "customer", "attn", "attention", "from", "to", "cc", "sender", "recipient", "requester", "reporter", "assignee", "owner"})  # fmt: skip
# What a person at the start of a sentence typically does next: "Thandiwe Fontaine said ...".
SAYS = frozenset({"said", "says", "told", "asked", "wrote", "mentioned", "from", "reported", "suggested", "confirmed", "called", "emailed"})  # fmt: skip
# What may follow a name on a signature line: "Maria Gonzalez | +1 415 ...", "Noor Sato, CFO".
SIGNATURE_SEPARATORS = frozenset(
    {"|", ",", "-", "\u2013", "\u2014", "(", "/", "<", "\u00b7", "\u2022"}
)
GREETING_FILLERS = frozenset({",", "there", "again", "dear", "!"})
ORG_SUFFIXES = frozenset({"inc", "ltd", "llc", "llp", "plc", "gmbh", "ag", "sa", "bv", "co", "corp", "corporation", "company", "group", "holdings", "partners", "labs", "industries", "systems", "technologies", "solutions", "software", "logistics", "retail", "foods", "health", "dental", "analytics", "goods", "bank", "consulting", "media", "studios", "ventures", "capital", "insurance", "pharma", "motors", "airlines"})  # fmt: skip
NAME_PREFIXES = ("Mc", "Mac", "De", "Di", "Da", "La", "Le", "Van", "Von", "O'", "D'")
AFTER_INTRO = frozenset({",", "from", "here", "at", "with", "of", "and", "-", "(", "|"})
PARTICLES = frozenset({"de", "da", "del", "della", "di", "du", "van", "von", "der", "den", "la", "le", "al", "bin", "ter"})  # fmt: skip
NAME_FOLLOWERS = frozenset(
    {
        "from", "here", "said", "says", "told", "asked", "mentioned", "wrote", "called",
        "emailed", "and", "will", "can", "ca", "could", "would", "tried", "reported",
        "needs", "cannot", "can't", "couldn't",
        "won't", "isn't", "wasn't", "doesn't", "didn't", "hasn't", "wants", "asks",
    }
)  # fmt: skip
# Capitalized words that are not names in a greeting, a sign-off or anywhere else.
NOT_NAMES = frozenset(
    {
        "team", "support", "there", "all", "everyone", "everybody", "folks", "guys", "sir",
        "madam", "friends", "colleagues", "again", "customer", "service", "sales", "billing",
        "admin", "thanks", "thank", "regards", "best", "kind", "warm", "cheers", "sent",
        "hi", "hello", "hey", "dear", "good", "morning", "afternoon", "evening", "today",
        "tomorrow", "yesterday", "tonight", "monday", "tuesday", "wednesday", "thursday",
        "friday", "saturday", "sunday", "january", "february", "march", "july", "august",
        "september", "october", "november", "december", "sorry", "yes", "okay", "ok", "sure",
        "great", "cc", "fyi", "re", "fw", "fwd", "urgent", "update", "note", "edit", "ps",
    }
)  # fmt: skip
SENTENCE_END = frozenset({".", "!", "?", ":", ";", "|", "-", "–", "—", "…", "•", "*", ">", '"', "(", "[", "“"})  # noqa: RUF001  # fmt: skip
# Words the cues read: never worth an NER window of their own.
CUE_WORDS = GREETINGS | TITLES | BEFORE_NAME | LABELS | CLOSING_FIRST | {"tell", "add"}
