"""The production docker-compose.yml and Dockerfile, checked without a Docker engine.

`docker compose config` is not available where the unit tests run, so this checks what it
would reject that can bite here (interpolation, references between services, volumes) and
our own rules: pinned images, no default API key, the search attributes the code sets."""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.routes.codec import router as codec_router
from api.routes.codec import ui_origins
from ingestlayer.search_attributes import SEARCH_ATTRIBUTES
from ingestlayer.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

REQUIRED_SERVICES = {"postgresql", "temporal", "temporal-setup", "temporal-ui", "api", "worker"}
DEPENDS_ON_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEYS?|CODEC_KEYS|DSN")


# --- compose interpolation -------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


class InterpolationError(ValueError):
    pass


@dataclass(frozen=True)
class Interpolation:
    name: str
    op: str | None = None  # "-", ":-", "?", ":?", "+", ":+" or None for a plain reference
    arg: str | None = None


def parse_interpolations(text: str) -> list[Interpolation]:
    """Every `$VAR` and `${VAR...}` in `text`; raises on what compose would refuse.

    `$$` is a literal `$`. Defaults, error messages and replacements may nest references."""
    found: list[Interpolation] = []
    i = 0
    while (i := text.find("$", i)) != -1:
        following = text[i + 1 : i + 2]
        if following == "$":
            i += 2
        elif following == "{":
            end = _closing_brace(text, i + 2)
            body = text[i + 2 : end]
            match = _BRACED.fullmatch(body)
            if match is None:
                raise InterpolationError(f"malformed ${{{body}}} in {text!r}")
            found.append(Interpolation(match["name"], match["op"], match["arg"]))
            if match["arg"]:
                found.extend(parse_interpolations(match["arg"]))
            i = end + 1
        elif name := _NAME.match(text, i + 1):
            found.append(Interpolation(name.group()))
            i = name.end()
        else:
            raise InterpolationError(f"lone $ in {text!r}: write $$ for a literal $")
    return found


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise InterpolationError(f"unclosed ${{ in {text!r}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", []),
        ("$$literal and $${NOT_A_VAR}", []),
        ("$HOME/x", [Interpolation("HOME")]),
        ("${A}", [Interpolation("A")]),
        ("${A:-x}${B-}", [Interpolation("A", ":-", "x"), Interpolation("B", "-", "")]),
        ("${A:?set A please}", [Interpolation("A", ":?", "set A please")]),
        ("${A?}", [Interpolation("A", "?", "")]),
        ("${A:-${B}}", [Interpolation("A", ":-", "${B}"), Interpolation("B")]),
    ],
)
def test_interpolation_checker_accepts_compose_syntax(
    text: str, expected: list[Interpolation]
) -> None:
    assert parse_interpolations(text) == expected


@pytest.mark.parametrize("text", ["${}", "${A", "${A:=x}", "${1A}", "cost: 5$", "a $ b", "${A B}"])
def test_interpolation_checker_rejects_malformed(text: str) -> None:
    with pytest.raises(InterpolationError):
        parse_interpolations(text)


# --- helpers over the parsed file ------------------------------------------------------


@functools.cache
def _load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


@pytest.fixture
def compose() -> dict[str, Any]:
    return _load_compose()


@pytest.fixture
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _strings(node: object, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")


def _argv(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    assert isinstance(value, list), f"command must be a string or a list, got {value!r}"
    return [str(item) for item in value]


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return {key: value for key, value in pairs}
    return {key: None if value is None else str(value) for key, value in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _image_tag(ref: str) -> str | None:
    """The tag of an image reference (a digest counts), or None when it has none."""
    if "@" in ref:
        return ref.split("@", 1)[1]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _published_ports(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(host port, protocol) for every port published on a fixed host port."""
    for port in service.get("ports", []):
        if isinstance(port, dict):
            if port.get("published") is not None:
                yield str(port["published"]), port.get("protocol", "tcp")
            continue
        spec, _, protocol = port.partition("/")
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            continue  # container port only: Docker picks an ephemeral host port
        first, _, last = parts[-2].partition("-")
        for number in range(int(first), int(last or first) + 1):
            yield str(number), protocol or "tcp"


def _volume_sources(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, source) for every volume with a source; kind is "bind" or "volume"."""
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("source"):
                yield volume.get("type", "volume"), volume["source"]
            continue
        source, sep, _ = volume.partition(":")
        if sep:
            yield ("bind" if source.startswith((".", "/", "~")) else "volume"), source


def _build_context(service: dict[str, Any]) -> Path:
    build = service["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    return (ROOT / context).resolve()


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _registered_search_attributes(service: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Names and types from `--name X --type T` pairs, and every token of the invocation."""
    tokens = [
        token
        for part in _argv(service.get("entrypoint")) + _argv(service.get("command"))
        for token in shlex.split(part)
    ]
    values: dict[str, list[str]] = {"--name": [], "--type": [], "--namespace": [], "--address": []}
    for index, token in enumerate(tokens):
        flag, eq, inline = token.partition("=")
        if flag in values:
            values[flag].append(inline if eq else tokens[index + 1])
    assert len(values["--name"]) == len(values["--type"]), "every --name needs its --type"
    return dict(zip(values["--name"], values["--type"], strict=True)), tokens


# --- the compose file ------------------------------------------------------------------


def test_compose_file_parses_and_declares_the_services() -> None:
    compose = _load_compose()
    assert isinstance(compose.get("services"), dict)
    assert REQUIRED_SERVICES <= compose["services"].keys()


def test_every_service_has_a_pinned_image_or_a_build(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "image" in service or "build" in service, f"{name}: neither image nor build"
        if "build" in service:
            continue
        ref = service["image"]
        tag = _image_tag(ref)
        assert "$" not in ref, f"{name}: image {ref!r} is chosen by the environment, pin it here"
        assert tag is not None, f"{name}: image {ref!r} has no tag"
        assert tag != "latest", f"{name}: image {ref!r} is not pinned"


def test_depends_on_targets_exist_with_valid_conditions(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for target, condition in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target!r}"
            assert condition in DEPENDS_ON_CONDITIONS, f"{name} -> {target}: {condition!r}"
            if condition == "service_healthy":
                healthcheck = services[target].get("healthcheck") or {}
                assert healthcheck.get("test") and not healthcheck.get("disable"), (
                    f"{name} waits for {target} to be healthy but {target} has no healthcheck"
                )


def test_depends_on_has_no_cycle(services: dict[str, dict[str, Any]]) -> None:
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, f"dependency cycle: {' -> '.join((*trail, name))}"
        if name not in done:
            for target in _depends_on(services[name]):
                visit(target, (*trail, name))
            done.add(name)

    for name in services:
        visit(name, ())


def test_start_order_registers_search_attributes_before_the_app(
    services: dict[str, dict[str, Any]],
) -> None:
    assert _depends_on(services["temporal"])["postgresql"] == "service_healthy"
    assert _depends_on(services["temporal-setup"])["temporal"] == "service_healthy"
    for name in ("api", "worker"):
        assert _depends_on(services[name])["temporal-setup"] == "service_completed_successfully"


def test_no_host_port_is_published_twice(services: dict[str, dict[str, Any]]) -> None:
    owners: dict[tuple[str, str], str] = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            # Unquoted "22:22" is a YAML 1.1 base-60 integer, not a mapping.
            assert isinstance(port, str | dict), f"{name}: quote port {port!r}"
        for published in _published_ports(service):
            assert published not in owners, (
                f"host port {published} is published by {owners[published]} and {name}"
            )
            owners[published] = name


def test_replicated_services_can_scale(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if (service.get("deploy") or {}).get("replicas", 1) > 1:
            assert "container_name" not in service, f"{name}: container_name blocks replicas"
            assert not list(_published_ports(service)), f"{name}: replicas share a host port"
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_every_interpolation_is_well_formed(compose: dict[str, Any]) -> None:
    errors = []
    for path, text in _strings(compose):
        try:
            parse_interpolations(text)
        except InterpolationError as error:
            errors.append(f"{path}: {error}")
    assert not errors, "\n".join(errors)


def test_api_keys_are_required_with_no_default(services: dict[str, dict[str, Any]]) -> None:
    value = _environment(services["api"]).get("INGESTLAYER_API_KEYS")
    assert value is not None, "the api service does not set INGESTLAYER_API_KEYS"
    [reference] = parse_interpolations(value)
    assert value.startswith("${") and value.endswith("}"), f"{value!r} mixes in a literal"
    assert reference.name == "INGESTLAYER_API_KEYS"
    assert reference.op == ":?", f"{value!r} must fail when unset or empty: ${{VAR:?message}}"


def _required_reference(value: str | None, name: str) -> None:
    assert value is not None, f"{name} is not set"
    [reference] = parse_interpolations(value)
    assert value.startswith("${") and value.endswith("}"), f"{value!r} mixes in a literal"
    assert reference.name == name
    assert reference.op == ":?", f"{value!r} must fail when unset or empty: ${{VAR:?message}}"


def test_payload_encryption_is_required_and_shared_by_api_and_worker(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("api", "worker"):
        value = _environment(services[name]).get("INGESTLAYER_CODEC_KEYS")
        _required_reference(value, "INGESTLAYER_CODEC_KEYS")
    assert (
        _environment(services["api"])["INGESTLAYER_CODEC_KEYS"]
        == _environment(services["worker"])["INGESTLAYER_CODEC_KEYS"]
    )


def test_temporal_ui_decodes_through_the_api_codec_ui_path(
    services: dict[str, dict[str, Any]],
) -> None:
    api = _environment(services["api"])
    ui = _environment(services["temporal-ui"])
    endpoint = ui.get("TEMPORAL_CODEC_ENDPOINT")
    assert endpoint is not None, "the Temporal UI has no codec endpoint"
    token = api.get("INGESTLAYER_CODEC_UI_TOKEN")
    _required_reference(token, "INGESTLAYER_CODEC_UI_TOKEN")
    assert endpoint == f"{api['INGESTLAYER_PUBLIC_BASE_URL']}/codec/ui/{token}"
    routes = {getattr(route, "path", "") for route in codec_router.routes}
    assert "/codec/ui/{token}/decode" in routes and "/codec/ui/{token}/encode" in routes


def test_api_allows_the_temporal_ui_origin(services: dict[str, dict[str, Any]]) -> None:
    [reference] = parse_interpolations(_environment(services["api"])["INGESTLAYER_TEMPORAL_UI_URL"])
    assert reference.arg is not None
    ui_origin = _environment(services["temporal-ui"])["TEMPORAL_CORS_ORIGINS"]
    assert ui_origin in ui_origins(Settings(temporal_ui_url=reference.arg))


def test_secrets_are_never_written_or_defaulted(compose: dict[str, Any]) -> None:
    for path, text in _strings(compose):
        for reference in parse_interpolations(text):
            if SECRET_NAME.search(reference.name.upper()):
                assert reference.op not in {"-", ":-"}, f"{path}: default for {reference.name}"
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key.upper()) and value is not None:
                assert parse_interpolations(value), f"{name}: {key} is written in the file"


def test_named_volumes_are_declared_and_bind_sources_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for kind, source in _volume_sources(service):
            if kind == "volume":
                assert source in declared, f"{name}: volume {source!r} is not declared"
            elif kind == "bind" and source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: bind source {source} is missing"


def test_app_services_build_from_the_repo_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "worker"):
        assert "build" in services[name], f"{name} must build from the repo"
        assert _build_context(services[name]) == ROOT
    assert DOCKERFILE.is_file()


def test_api_command_serves_the_app_factory(services: dict[str, dict[str, Any]]) -> None:
    argv = _argv(services["api"]["command"])
    assert argv[0] == "uvicorn" and "--factory" in argv
    module, _, factory = next(arg for arg in argv[1:] if not arg.startswith("-")).partition(":")
    source = ROOT / Path(*module.split(".")).with_suffix(".py")
    assert source.is_file(), f"{source.relative_to(ROOT)} does not exist"
    assert re.search(rf"^(async\s+)?def {re.escape(factory)}\(", source.read_text(), re.M), (
        f"{source.relative_to(ROOT)} has no `def {factory}`"
    )


def test_worker_command_runs_the_pool_script(services: dict[str, dict[str, Any]]) -> None:
    argv = _argv(services["worker"]["command"])
    assert argv[0] in {"python", "python3"} and "--processes" in argv
    assert (ROOT / argv[1]).is_file(), f"{argv[1]} does not exist at the repo root"


def test_setup_registers_the_search_attributes_the_code_uses(
    services: dict[str, dict[str, Any]],
) -> None:
    registered, tokens = _registered_search_attributes(services["temporal-setup"])
    assert tokens[:4] == ["temporal", "operator", "search-attribute", "create"]
    assert registered == SEARCH_ATTRIBUTES


def test_app_uses_the_namespace_and_address_setup_registered(
    services: dict[str, dict[str, Any]],
) -> None:
    _, tokens = _registered_search_attributes(services["temporal-setup"])
    namespace = tokens[tokens.index("--namespace") + 1]
    address = tokens[tokens.index("--address") + 1]
    assert address.partition(":")[0] in services
    for name in ("api", "worker"):
        env = _environment(services[name])
        assert env.get("INGESTLAYER_TEMPORAL_NAMESPACE") == namespace, name
        assert env.get("INGESTLAYER_TEMPORAL_ADDRESS") == address, name


# --- the Dockerfile --------------------------------------------------------------------


def test_dockerfile_base_is_pinned_and_runs_as_non_root() -> None:
    instructions = _dockerfile_instructions()
    stages: set[str] = set()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms, "the Dockerfile has no FROM"
    for rest in froms:
        words = [word for word in rest.split() if not word.startswith("--")]
        image = words[0]
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2])
        if image in stages:
            continue
        tag = _image_tag(image)
        assert "$" not in image and tag not in {None, "latest"}, f"FROM {image} is not pinned"
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "the image runs as root: add a USER"
    assert users[-1].partition(":")[0] not in {"root", "0"}, f"USER {users[-1]} is root"


def test_dockerfile_copies_only_files_that_exist() -> None:
    missing = []
    for keyword, rest in _dockerfile_instructions():
        if keyword not in {"COPY", "ADD"} or "--from" in rest:
            continue
        words = [word for word in rest.split() if not word.startswith("--")]
        missing += [source for source in words[:-1] if not (ROOT / source).exists()]
    assert not missing, f"the image build would fail, missing: {missing}"
