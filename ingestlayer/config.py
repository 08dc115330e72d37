"""Pipeline configuration: the YAML shape users write, validated at load into the specs workflows run."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from ingestlayer import expressions, secrets, templates
from ingestlayer.classify import ClassifyStep
from ingestlayer.destinations import REGISTRY
from ingestlayer.durations import Seconds
from ingestlayer.redaction import RedactStep
from ingestlayer.secrets import literal_secret_message

NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,62}$"
MAX_DESTINATIONS = 20
MAX_STEPS = 50


class ConfigError(Exception):
    """A pipeline file that cannot be loaded; the message names file, line and reason."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")


class RetrySpec(BaseModel):
    """How a failing delivery is retried before it dead-letters (attempts include the first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=8, ge=1, le=100)
    initial_interval: Seconds = 1.0
    backoff: float = Field(default=2.0, ge=1.0, le=10.0)
    max_interval: Seconds = 300.0
    attempt_timeout: Seconds = 30.0


class StepSpec(BaseModel):
    """One step as the workflow runs it: its kind and its (already validated) arguments."""

    model_config = ConfigDict(frozen=True)

    kind: str
    args: Any


class DestinationSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    options: dict[str, Any]
    when: str | None = None
    retry: RetrySpec = RetrySpec()


class PipelineSpec(BaseModel):
    """What a workflow receives: a snapshot, so editing config never breaks a running workflow."""

    model_config = ConfigDict(frozen=True)

    name: str
    on: list[str]
    steps: list[StepSpec] = Field(default_factory=list)
    destinations: list[DestinationSpec] = Field(default_factory=list)

    def subscribes_to(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.on)


def _check_expression(value: str) -> str:
    try:
        expressions.parse(value)
    except expressions.ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return value


def _check_templates(value: Any) -> Any:
    if isinstance(value, str):
        try:
            templates.references(value)
        except templates.TemplateError as exc:
            raise ValueError(str(exc)) from None
    elif isinstance(value, dict):
        for item in value.values():
            _check_templates(item)
    elif isinstance(value, list):
        for item in value:
            _check_templates(item)
    return value


class StepEntry(BaseModel):
    """A step as written in YAML: a mapping with exactly one key, the step's kind."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    filter_match: str | None = Field(default=None, alias="filter.match")
    set: dict[str, Any] | None = None
    classify: ClassifyStep | None = None
    redact_pii: RedactStep | None = Field(default=None, alias="redact.pii")

    @field_validator("filter_match")
    @classmethod
    def _parse_filter(cls, value: str | None) -> str | None:
        return None if value is None else _check_expression(value)

    @field_validator("set")
    @classmethod
    def _check_set(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        for key in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"`set` field name {key!r} must be an identifier")
        return _check_templates(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> StepEntry:
        given = [alias for alias, value in self._by_alias().items() if value is not None]
        if len(given) != 1:
            kinds = ", ".join(sorted(self._by_alias()))
            raise ValueError(f"a step is a mapping with exactly one of: {kinds}")
        return self

    def _by_alias(self) -> dict[str, Any]:
        return {
            "filter.match": self.filter_match,
            "set": self.set,
            "classify": self.classify,
            "redact.pii": self.redact_pii,
        }

    def spec(self) -> StepSpec:
        kind, args = next((k, v) for k, v in self._by_alias().items() if v is not None)
        if isinstance(args, BaseModel):
            args = args.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return StepSpec(kind=kind, args=args)


class _DestinationEntryBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    when: str | None = None
    retry: RetrySpec = RetrySpec()

    @field_validator("when", mode="before")
    @classmethod
    def _parse_when(cls, value: Any) -> Any:
        if isinstance(value, bool):
            value = "true" if value else "false"
        return None if value is None else _check_expression(str(value))

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> _DestinationEntryBase:
        if len(self.given_kinds()) != 1:
            raise ValueError("a destination names exactly one kind: " + ", ".join(sorted(REGISTRY)))
        kind = self.given_kinds()[0]
        options = getattr(self, kind).model_dump(mode="json", exclude_unset=True)
        if literal := secrets.literal_secrets(options, f"{kind}."):
            raise ValueError(literal_secret_message(literal))
        return self

    def given_kinds(self) -> list[str]:
        return [kind for kind in REGISTRY if getattr(self, kind, None) is not None]

    def spec(self, default_name: str) -> DestinationSpec:
        kind = self.given_kinds()[0]
        adapter = getattr(self, kind)
        return DestinationSpec(
            name=self.name or default_name,
            kind=kind,
            options=adapter.model_dump(mode="json", exclude_unset=True),
            when=self.when,
            retry=self.retry,
        )


if TYPE_CHECKING:
    DestinationEntry = _DestinationEntryBase
else:
    DestinationEntry = create_model(
        "DestinationEntry",
        __base__=_DestinationEntryBase,
        **{kind: (adapter | None, None) for kind, adapter in REGISTRY.items()},
    )


class PipelineEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    on: list[str]
    steps: list[StepEntry] = Field(default_factory=list)
    destinations: list[DestinationEntry] = Field(default_factory=list)

    @field_validator("steps", mode="before")
    @classmethod
    def _step_count(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > MAX_STEPS:
            raise ValueError(
                f"a pipeline has at most {MAX_STEPS} steps, this one has {len(value)}; "
                "split the work into pipelines on the same events"
            )
        return value

    @field_validator("destinations", mode="before")
    @classmethod
    def _destination_count(cls, value: Any) -> Any:
        """Checked before the entries are, so an oversized list fails fast and clearly."""
        if isinstance(value, list) and len(value) > MAX_DESTINATIONS:
            raise ValueError(
                f"a pipeline has at most {MAX_DESTINATIONS} destinations, this one has "
                f"{len(value)}; split them across pipelines on the same events"
            )
        return value

    @field_validator("on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("on")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("`on` names at least one event type")
        for pattern in value:
            if not re.match(r"^[A-Za-z0-9_\-.*?]+$", pattern):
                raise ValueError(f"{pattern!r} is not an event type or a pattern like support.*")
        return value

    def spec(self) -> PipelineSpec:
        """Unnamed destinations are named for their kind (`webhook`, or `webhook-2` when several)."""
        unnamed = [e.given_kinds()[0] for e in self.destinations if e.name is None]
        seen: dict[str, int] = {}
        destinations = []
        for entry in self.destinations:
            kind = entry.given_kinds()[0]
            if entry.name is None:
                seen[kind] = seen.get(kind, 0) + 1
            default = kind if unnamed.count(kind) == 1 else f"{kind}-{seen.get(kind, 0)}"
            destinations.append(entry.spec(default))
        names = [d.name for d in destinations]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise ValueError(f"two destinations are named {duplicate!r}; give each a unique `name`")
        return PipelineSpec(
            name=self.name,
            on=self.on,
            steps=[step.spec() for step in self.steps],
            destinations=destinations,
        )


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipelines: list[PipelineEntry] = Field(default_factory=list)


class PipelineSet(BaseModel):
    """Every loaded pipeline; `for_type` picks the ones an event runs through."""

    pipelines: list[PipelineSpec] = Field(default_factory=list)

    def for_type(self, event_type: str) -> list[PipelineSpec]:
        return [p for p in self.pipelines if p.subscribes_to(event_type)]

    def by_name(self, name: str) -> PipelineSpec | None:
        return next((p for p in self.pipelines if p.name == name), None)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `on`, `off`, `yes` and `no` as booleans; pipelines use `on:` as a key."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest YAML node the error location still reaches."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    child = value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _describe(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_error(path: str, root: yaml.Node | None, exc: ValidationError) -> ConfigError:
    first = exc.errors(include_url=False)[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    message = first["msg"].removeprefix("Value error, ")
    where = _describe(loc)
    return ConfigError(path, _line_of(root, loc), f"{where}: {message}" if where else message)


def parse_text(text: str, path: str = "<config>") -> list[PipelineSpec]:
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, line, f"not valid YAML: {problem}") from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(path, 1, "a pipeline file is a mapping with a `pipelines:` list")
    try:
        parsed = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(path, root, exc) from None
    specs = []
    for index, entry in enumerate(parsed.pipelines):
        try:
            specs.append(entry.spec())
        except ValueError as exc:
            raise ConfigError(path, _line_of(root, ("pipelines", index)), str(exc)) from None
    return specs


def config_files(path: str | Path) -> list[Path]:
    target = Path(path)
    if target.is_dir():
        return sorted(p for p in target.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    if target.is_file():
        return [target]
    raise ConfigError(str(target), None, "no such file or folder")


def load(path: str | Path) -> PipelineSet:
    """Load a file or a folder of files; pipeline names are unique across all of them."""
    pipelines: list[PipelineSpec] = []
    origin: dict[str, str] = {}
    for file in config_files(path):
        for spec in parse_text(file.read_text(encoding="utf-8"), str(file)):
            if spec.name in origin:
                raise ConfigError(
                    str(file),
                    None,
                    f"pipeline {spec.name!r} is also defined in {origin[spec.name]}",
                )
            origin[spec.name] = str(file)
            pipelines.append(spec)
    return PipelineSet(pipelines=pipelines)
