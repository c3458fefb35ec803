"""The interface every engine plug-in implements, and what the plug-ins share.

An engine plug-in (`tgi_infra/engines/<name>/__init__.py` exposing `ENGINE`) owns, for its
engine: the pinned image, how a tier's settings become its flags and env (`container`), the
port and probes, the download allow-patterns of its weight format, its startup rules as
named checks, and its memory plan. The manifests, checks and plan call these methods and
never name an engine's flag.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tgi_infra.problems import Problem

if TYPE_CHECKING:
    from tgi_infra.capacity.catalog import Gpu
    from tgi_infra.capacity.facts import ModelFacts
    from tgi_infra.capacity.memory import MemoryPlan
    from tgi_infra.config.models import TierConfig

SERVER_PORT = 8080
"""The container port every engine is told to bind (above 1024: no root, no NET_BIND)."""
PORT_NAME = "http"
DATA_DIR = "/data"
"""Where the weight cache is mounted; HF_HOME for every engine and the download Job."""
GRACEFUL_SHUTDOWN_SECONDS = 90

# Files every engine reads besides the weights: config, tokenizer, generation config, chat
# template. `snapshot_download(allow_patterns=...)` takes fnmatch patterns.
CONFIG_PATTERNS: tuple[str, ...] = (
    "*.json",  # config.json, tokenizer.json, tokenizer_config.json, generation_config.json...
    "*.model",  # sentencepiece tokenizers (tokenizer.model)
    "*.tiktoken",
    "tokenizer*",
    "*.txt",  # merges.txt, vocab.txt
    "*.jinja",  # chat templates shipped as files
    "*.py",  # remote code (loaded only with trustRemoteCode)
)
SAFETENSORS_PATTERNS: tuple[str, ...] = ("*.safetensors",)  # the index is a *.json


@dataclass(frozen=True)
class FlagSpec:
    """One CLI flag as the engine's source declares it (an entry of `cli.json`)."""

    name: str  # "--max-model-len"
    kind: str  # value | bool | bool-optional | list | optional-value
    type: str = "str"  # int | float | str | json | bool
    choices: tuple[str, ...] | None = None
    env: str | None = None  # TGI: the env var the launcher also reads this flag from
    minimum: int | None = None  # TGI: the bounds of the flag's unsigned Rust type (u16, usize)
    maximum: int | None = None


@dataclass(frozen=True)
class EngineCli:
    """An engine's flags, env vars and enums at one version, read from its source."""

    engine: str
    version: str
    source: str
    flags: Mapping[str, FlagSpec]
    aliases: Mapping[str, str]  # alias -> canonical flag
    env: frozenset[str]
    enums: Mapping[str, tuple[str, ...]]

    def flag(self, name: str) -> FlagSpec | None:
        name = self.aliases.get(name, name)
        return self.flags.get(name)

    def closest(self, name: str) -> str | None:
        match = difflib.get_close_matches(name, [*self.flags, *self.aliases], n=1, cutoff=0.6)
        return match[0] if match else None


@functools.cache
def load_cli(path: Path) -> EngineCli:
    data = json.loads(path.read_text())
    flags: dict[str, FlagSpec] = {}
    aliases: dict[str, str] = {}
    for name, spec in data["flags"].items():
        choices = spec.get("choices")
        flags[name] = FlagSpec(
            name=name,
            kind=spec["kind"],
            type=spec.get("type", "bool" if spec["kind"].startswith("bool") else "str"),
            choices=tuple(choices) if choices else None,
            env=spec.get("env"),
            minimum=spec.get("min"),
            maximum=spec.get("max"),
        )
        for alias in spec.get("aliases", []):
            aliases[alias] = name
    return EngineCli(
        engine=data["engine"],
        version=data["version"],
        source=data["source"],
        flags=flags,
        aliases=aliases,
        env=frozenset(data["env"]),
        enums={k: tuple(v) for k, v in data["enums"].items()},
    )


@functools.cache
def hub_env() -> frozenset[str]:
    """Env vars huggingface_hub reads (HF_HOME, HF_HUB_OFFLINE, HF_TOKEN...), see hub_env.json."""
    data = json.loads((Path(__file__).parent / "hub_env.json").read_text())
    return frozenset(data["env"])


@dataclass(frozen=True)
class Container:
    """What an engine's container runs: command (None: the image's entrypoint), args, env."""

    command: tuple[str, ...] | None
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Probe:
    """HTTP paths the kubelet probes; each answers only once the model is loaded."""

    startup: str
    readiness: str
    liveness: str


@dataclass(frozen=True)
class Setting:
    """How one common tier setting maps onto the engine (the docs table reads these)."""

    field: str  # the tier field, camelCase
    flag: str | None  # the engine's flag, or None when it has none
    meaning: str


@dataclass(frozen=True)
class AdmissionLimit:
    """The most requests one pod holds before it refuses new ones (checks/observability.py)."""

    limit: int
    setting: str  # where the limit is set, as the stack spells it: "maxConcurrentRequests"
    counted: str  # what counts against it: "queued and running together", "queued"
    refusal: str  # what a client gets beyond it: "429 overloaded"
    includes_running: bool  # running requests count too, so the queue alone stays below


def engine_arg_limit(
    tier: TierConfig, key: str, counted: str, *, includes_running: bool
) -> AdmissionLimit | None:
    """An admission limit set through engineArgs `key` (vLLM, SGLang: 503 beyond it)."""
    limit = tier.engine_args.get(key)
    if not isinstance(limit, int) or isinstance(limit, bool):
        return None
    return AdmissionLimit(
        limit, f"engineArgs.{key}", counted, "503 Service Unavailable", includes_running
    )


@dataclass(frozen=True)
class ServingContext:
    """What a container needs besides the tier: platform-wide choices."""

    usage_stats: str = "off"
    otlp_endpoint: str | None = None  # traces go here when set (observability.otlpEndpoint)
    service_name: str = ""  # the tier's Service: the traces' service.name


class Engine(ABC):
    """One serving engine. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    image_repository: ClassVar[str]
    tag_prefix: ClassVar[str] = ""  # vLLM and SGLang tag releases "v0.34.0"
    probe: ClassVar[Probe]
    weight_patterns: ClassVar[tuple[str, ...]] = SAFETENSORS_PATTERNS
    settings: ClassVar[tuple[Setting, ...]] = ()
    # Flags the platform sets from tier fields (or must own): engineArgs may not set them.
    managed_flags: ClassVar[Mapping[str, str]] = {}
    # Flags whose value is a credential: never in a manifest.
    secret_flags: ClassVar[frozenset[str]] = frozenset()
    # Rendered containers as the policy pack reads them: a neutral setting (max_input_tokens,
    # max_total_tokens, num_shard, revision, trust_remote_code) -> this engine's flag, or env
    # var for TGI; and how its server container is told from its download Job.
    policy_settings: ClassVar[Mapping[str, str]] = {}
    server_markers: ClassVar[tuple[str, ...]] = ()
    port: ClassVar[int] = SERVER_PORT
    graceful_shutdown_seconds: ClassVar[int] = GRACEFUL_SHUTDOWN_SECONDS

    @property
    def default_version(self) -> str:
        from tgi_infra.engines import DEFAULT_VERSIONS

        return DEFAULT_VERSIONS[self.name]

    def cli(self) -> EngineCli:
        """The flag table read from the engine's source at the pinned version."""
        return load_cli(Path(__file__).parent / self.name / "cli.json")

    def version(self, tier: TierConfig) -> str:
        return tier.image_version or self.default_version

    def image(self, tier: TierConfig) -> str:
        """By tag, or by digest when imageVersion is `sha256:<digest>`."""
        version = self.version(tier)
        if version.startswith("sha256:"):
            return f"{self.image_repository}@{version}"
        return f"{self.image_repository}:{self.tag_prefix}{version}"

    def runs_image(self, image: str) -> bool:
        """The image is this engine's (whatever registry mirror or tag)."""
        repo = image.split("@", 1)[0]
        last = repo.rsplit("/", 1)[-1]
        name = last.split(":", 1)[0] if ":" in last else last
        return name == self.image_repository.rsplit("/", 1)[-1]

    def is_server(self, image: str, command: Sequence[str]) -> bool:
        """A server container of this engine (not the download Job's `python3 -c`)."""
        if not self.runs_image(image):
            return False
        if not command:
            return not self.server_markers or self.server_markers[0].startswith("entrypoint:")
        words = [str(w).rsplit("/", 1)[-1] for w in command]
        return any(m in words for m in self.server_markers)

    def download_patterns(self) -> tuple[str, ...]:
        """allow_patterns for the download Job: config, tokenizer, the weights it loads."""
        return (*CONFIG_PATTERNS, *self.weight_patterns)

    @abstractmethod
    def container(self, tier: TierConfig, ctx: ServingContext) -> Container:
        """The container's command, args and env for a tier."""

    def tracing(self, ctx: ServingContext) -> tuple[list[str], dict[str, str]]:
        """(args, env) that send the engine's traces to ctx.otlp_endpoint; none by default."""
        return [], {}

    def check_arguments(self, tier: TierConfig) -> list[Problem]:
        """Rules on the tier alone: legal enums, engineArgs, the engine's own refusals."""
        version = self.check_version(tier.image_version, f"tiers[{tier.name}].imageVersion")
        return [
            *version, *self.check_enums(tier), *self.check_engine_args(tier),
            *self.argument_rules(tier),
        ]  # fmt: skip

    def check_version(self, version: str | None, path: str) -> list[Problem]:
        """An image version the plan can vouch for: a release tag as the image spells it, not
        past the pinned release whose flags and memory model the checks use."""
        if version is None or version.startswith("sha256:"):
            return []
        name, pinned = self.display_name, self.default_version
        prefix = self.tag_prefix
        doubled = prefix and version.startswith(prefix) and version[len(prefix) :][:1].isdigit()
        if doubled:
            return [
                Problem(
                    path,
                    f"{version!r} renders the image {self.image_repository}:{prefix}{version}, "
                    f"which does not exist: the tag's leading {prefix!r} is added already.",
                    f"write {version[len(prefix):]!r}.",
                    "image-version",
                )
            ]
        release = _RELEASE.match(version)
        if release is None:
            return [
                Problem(
                    path,
                    f"{version!r} is not a {name} release (a moving or custom tag): the plan "
                    f"checks flags, defaults and memory as {name} {pinned}'s, which that image "
                    "may not be.",
                    f"pin a release (e.g. {pinned}) or a digest (sha256:...).",
                    "image-version",
                    "warning",
                )
            ]
        if _version_tuple(release) > _version_tuple(_RELEASE.match(pinned)):
            return [
                Problem(
                    path,
                    f"{name} {version} is newer than the release this platform pins and was "
                    f"checked against ({pinned}): its flags, defaults and memory arithmetic are "
                    f"checked as {pinned}'s.",
                    f"use {pinned}, or check the tier's engineArgs against {name} {version}'s "
                    "release notes.",
                    "image-version",
                    "warning",
                )
            ]
        return []

    def argument_rules(self, tier: TierConfig) -> list[Problem]:
        """The engine's own refusals of the tier's arguments (no model, no GPU)."""
        return []

    def check_checkpoint(self, tier: TierConfig, facts: ModelFacts) -> list[Problem]:
        """Rules on the tier against the model's checkpoint (its quantization), no GPU."""
        return []

    def check_checkpoint_on_gpu(
        self, tier: TierConfig, facts: ModelFacts, gpu: Gpu
    ) -> list[Problem]:
        """Rules on the checkpoint that depend on the GPU (kernels, compute capability);
        `check_capacity` applies them too."""
        return []

    def admission_limit(self, tier: TierConfig) -> AdmissionLimit | None:
        """The in-flight cap beyond which a pod refuses requests; None: excess requests wait
        (the queue, `llm:queue_requests`, is unbounded)."""
        return None

    def notices(self, tier: TierConfig) -> list[Problem]:
        """Warnings about the engine itself (e.g. its maintenance status) for a stack."""
        return []

    def check_capacity(
        self, tier: TierConfig, facts: ModelFacts, gpu: Gpu, gpus_per_node: int,
        memory: MemoryPlan, *, min_full_length_requests: int,
    ) -> list[Problem]:  # fmt: skip
        """Rules that need the model and the GPU."""
        return []

    def memory_plan(self, tier: TierConfig, facts: ModelFacts, gpu: Gpu) -> MemoryPlan:
        """The engine's startup memory arithmetic: its own model, else the approximation
        (`engines.approx_memory`, TGI's arithmetic with the tier's settings)."""
        from tgi_infra.engines.approx_memory import approximate_plan

        return self.native_memory_plan(tier, facts, gpu) or approximate_plan(tier, facts, gpu)

    def native_memory_plan(
        self, tier: TierConfig, facts: ModelFacts, gpu: Gpu
    ) -> MemoryPlan | None:
        """The engine's own startup arithmetic from `capacity.kv` (the number it logs as its
        KV capacity); None where that model does not cover the tier (then the approximation
        applies)."""
        from tgi_infra.engines import engine_memory

        return engine_memory.memory_plan(tier, facts, gpu)

    # ------------------------------------------------------------------ shared rules

    def check_enums(self, tier: TierConfig) -> list[Problem]:
        """quantize, dtype and kvCacheDtype must be values this engine's CLI accepts."""
        enums = self.cli().enums
        problems = []
        for key, field_name, value in (
            ("quantization", "quantize", tier.quantize),
            ("dtype", "dtype", tier.dtype),
            ("kv_cache_dtype", "kvCacheDtype", tier.kv_cache_dtype),
        ):
            legal = enums[key]
            if value is None or value in legal:
                continue
            close = difflib.get_close_matches(value, legal, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                Problem(
                    f"tiers[{tier.name}].{field_name}",
                    f"{value!r} is not a {self.display_name} {self.version(tier)} {key} "
                    f"(one of: {', '.join(legal)}).",
                    f"{hint}use one of those, or leave it unset.",
                    f"{self.name}-{field_name.lower()}-value",
                )
            )
        return problems

    def check_engine_args(self, tier: TierConfig) -> list[Problem]:
        """Every engineArgs key is a flag of this engine, not one the platform owns, with a
        value of the flag's type and choices."""
        cli = self.cli()
        problems: list[Problem] = []
        for key, value in tier.engine_args.items():
            path = f"tiers[{tier.name}].engineArgs.{key}"
            flag = f"--{key}"
            spec = cli.flag(flag)
            check = "engine-args"
            if spec is None:
                close = cli.closest(flag)
                problems.append(
                    Problem(
                        path,
                        f"{flag} is not a {self.display_name} {cli.version} flag "
                        f"({cli.source.split(':', 1)[0]}).",
                        f"did you mean {close.removeprefix('--')!r}?"
                        if close
                        else "see the engine's --help at the pinned version.",
                        check,
                    )
                )
                continue
            owner = self.managed_flags.get(spec.name)
            if owner is not None:
                problems.append(
                    Problem(
                        path,
                        f"{spec.name} is set by the platform ({owner}).",
                        f"remove it from engineArgs; set {owner} instead."
                        if owner.startswith("tiers[]")
                        else "remove it from engineArgs.",
                        check,
                    )
                )
                continue
            if spec.name in self.secret_flags:
                problems.append(
                    Problem(
                        path,
                        f"{spec.name} carries a credential, which would sit in plaintext in "
                        "the Deployment.",
                        "remove it; credentials come from Kubernetes Secrets.",
                        check,
                    )
                )
                continue
            error = value_error(spec, value)
            if error:
                fix = f"give {spec.name} {_expected(spec)}."
                problems.append(Problem(path, f"{value!r}: {error}", fix, check))
        return problems

    def engine_arg_tokens(self, tier: TierConfig) -> list[str]:
        """engineArgs as CLI tokens, in the order given."""
        out: list[str] = []
        cli = self.cli()
        for key, value in tier.engine_args.items():
            spec = cli.flag(f"--{key}")
            if spec is not None:
                out += flag_tokens(spec, value)
        return out


_RELEASE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def _version_tuple(match: re.Match[str] | None) -> tuple[int, int, int]:
    if match is None:
        return (0, 0, 0)
    return int(match[1]), int(match[2]), int(match[3] or 0)


def value_error(spec: FlagSpec, value: Any) -> str | None:
    """Why `value` is not legal for the flag, or None."""
    kind, typ = spec.kind, spec.type
    if kind in ("bool", "bool-optional"):
        if not isinstance(value, bool):
            return f"{spec.name} is a switch (true/false)"
        if kind == "bool" and value is False:
            return f"{spec.name} has no --no- form; false is its default, omit the key"
        return None
    if kind == "optional-value" and isinstance(value, bool):
        return None if value else f"{spec.name} is off by default; omit the key"
    values = value if kind == "list" and isinstance(value, list) else [value]
    for item in values:
        if typ == "json":
            if not isinstance(item, dict | list | str):
                return f"{spec.name} takes a JSON object"
            continue
        if isinstance(item, bool | dict | list):
            return f"{spec.name} takes {_expected(spec)}"
        if typ == "int" and not isinstance(item, int):
            return f"{spec.name} takes an integer"
        if typ == "int" and spec.minimum is not None and item < spec.minimum:
            return f"{spec.name} takes an integer of at least {spec.minimum}"
        if typ == "int" and spec.maximum is not None and item > spec.maximum:
            return f"{spec.name} takes an integer of at most {spec.maximum}"
        if typ == "float" and not isinstance(item, int | float):
            return f"{spec.name} takes a number"
        if spec.choices and str(item) not in spec.choices:
            close = difflib.get_close_matches(str(item), spec.choices, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"not one of {', '.join(spec.choices)}{hint}"
    return None


def _expected(spec: FlagSpec) -> str:
    if spec.kind.startswith("bool"):
        return "true or false"
    if spec.choices:
        return "one of " + ", ".join(spec.choices)
    what = {"int": "an integer", "float": "a number", "json": "a JSON object"}.get(
        spec.type, "a string"
    )
    return f"a list of {what}s" if spec.kind == "list" else what


def flag_tokens(spec: FlagSpec, value: Any) -> list[str]:
    """The CLI tokens of one flag and value, as the engine's argparse expects them."""
    if spec.kind in ("bool", "bool-optional", "optional-value") and isinstance(value, bool):
        if value:
            return [spec.name]
        return [f"--no-{spec.name[2:]}"] if spec.kind == "bool-optional" else []
    if spec.kind == "list":
        items = value if isinstance(value, list) else [value]
        return [spec.name, *(_text(v) for v in items)]
    return [spec.name, _text(value)]


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def env_pairs(values: Mapping[str, str | None]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in values.items() if v is not None)
