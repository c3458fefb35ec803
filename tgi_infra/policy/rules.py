"""Resource policies as pure functions: `(resource type, inputs, policy config) -> messages`.

Each message names the object, the value, the limit and what to change. An empty list
means compliant (or: not a resource this rule looks at). The pack (`tgi_infra.policy.pack`)
wraps these in CrossGuard `ResourceValidationPolicy` objects; tests call them directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tgi_infra import naming
from tgi_infra.engines.base import Engine
from tgi_infra.policy.k8s import (
    PINNED_REVISION,
    as_int,
    containers,
    env_entries,
    gpu_limit,
    is_truthy,
    kind_of,
    labels_of,
    launcher_setting,
    mapping,
    name_of,
    namespace_of,
    parse_image,
    pod_spec,
    sequence,
    server_engine,
    server_setting,
)

Config = Mapping[str, Any]
ResourceRule = Callable[[str, Mapping[str, Any], Config], list[str]]

DEFAULT_MAX_INPUT_TOKENS = 16384
DEFAULT_MAX_TOTAL_TOKENS = 32768
MESSAGES_API_VERSION = "1.4.0"
HF_TOKEN_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "HF_API_TOKEN")
HF_TOKEN_PATTERN = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")
GATEWAY_OWNER_LABEL = "gateway.envoyproxy.io/owning-gateway-name"


def where(resource_type: str, props: Mapping[str, Any]) -> str:
    """`Deployment tgi/tgi-chat-1a2b3c4d (tiers[chat])`: the object and its stack path."""
    kind = kind_of(resource_type, props) or resource_type
    ns, name = namespace_of(props), name_of(props) or "?"
    text = f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
    tier = labels_of(props).get(naming.TIER_LABEL)
    return f"{text} (tiers[{tier}])" if isinstance(tier, str) else text


def tier_path(props: Mapping[str, Any], key: str) -> str:
    """`tiers[chat].maxTotalTokens` when the object belongs to a tier, else `key`."""
    tier = labels_of(props).get(naming.TIER_LABEL)
    return f"tiers[{tier}].{key}" if isinstance(tier, str) else key


def _pods(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return pod_spec(kind_of(resource_type, props), props)


def _tgi_servers(
    resource_type: str, props: Mapping[str, Any]
) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(pod spec, container) for every TGI server container of a workload."""
    for spec, container, engine in _servers(resource_type, props):
        if engine.name == "tgi":
            yield spec, container


def _servers(
    resource_type: str, props: Mapping[str, Any]
) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any], Engine]]:
    """(pod spec, container, engine) for every engine server container (TGI, vLLM, SGLang)."""
    spec = _pods(resource_type, props)
    if spec is None:
        return
    for container in containers(spec):
        engine = server_engine(container)
        if engine is not None:
            yield spec, container, engine


def _label(container: Mapping[str, Any]) -> str:
    return f"container {container.get('name', '?')}"


def _revision(container: Mapping[str, Any], engine: Engine) -> str:
    return server_setting(container, engine, "revision") or "main"


def _name(engine: Engine, key: str) -> str:
    """The engine's own name of a neutral setting, for messages (MAX_TOTAL_TOKENS,
    --max-model-len, --context-length)."""
    return engine.policy_settings[key]


def check_token_limits(resource_type: str, props: Mapping[str, Any], config: Config) -> list[str]:
    """Every engine server sets its request length (TGI MAX_TOTAL_TOKENS and
    MAX_INPUT_TOKENS, vLLM --max-model-len, SGLang --context-length) under the caps."""
    cap_input = as_int(config.get("maxInputTokens")) or DEFAULT_MAX_INPUT_TOKENS
    cap_total = as_int(config.get("maxTotalTokens")) or DEFAULT_MAX_TOTAL_TOKENS
    out: list[str] = []
    for _, c, engine in _servers(resource_type, props):
        at = f"{where(resource_type, props)} {_label(c)}"
        raw_input = server_setting(c, engine, "max_input_tokens")
        if engine.name == "tgi":
            raw_input = raw_input or launcher_setting(c, "MAX_INPUT_LENGTH")
        raw_total = server_setting(c, engine, "max_total_tokens")
        max_input, max_total = as_int(raw_input), as_int(raw_total)
        limits = [("max_total_tokens", raw_total, max_total, cap_total, "maxTotalTokens")]
        if "max_input_tokens" in engine.policy_settings:
            limits.insert(0, ("max_input_tokens", raw_input, max_input, cap_input,
                              "maxInputTokens"))  # fmt: skip
        for key, raw, value, cap, field in limits:
            name = _name(engine, key)
            path = tier_path(props, field)
            if value is None:
                shown = "is not set" if raw is None else f"is {raw!r}, not a whole number"
                out.append(
                    f"{at}: {name} {shown}; {engine.display_name} then derives it from the "
                    "model's context length (often 128k tokens) and sizes its KV cache for "
                    f"that. Fix: set {path} (≤ {cap})."
                )
            elif value > cap:
                out.append(
                    f"{at}: {name}={value} is above this environment's cap of {cap}. "
                    f"Fix: lower {path} to {cap} or less, or raise the pack's "
                    f"`tgi-token-limits.{field}` for this environment."
                )
        if max_input is not None and max_total is not None and max_input >= max_total:
            out.append(
                f"{at}: MAX_INPUT_TOKENS={max_input} must be below MAX_TOTAL_TOKENS={max_total} "
                "(TGI refuses to start). Fix: lower "
                f"{tier_path(props, 'maxInputTokens')} below {max_total}."
            )
    return out


def check_image_pinned(resource_type: str, props: Mapping[str, Any], config: Config) -> list[str]:
    """Every container image has a tag other than `latest`, or a digest."""
    spec = _pods(resource_type, props)
    if spec is None:
        return []
    out: list[str] = []
    for c in containers(spec):
        image = c.get("image")
        if not isinstance(image, str) or not image:
            continue
        ref = parse_image(image)
        if ref.digest or (ref.tag and ref.tag != "latest"):
            continue
        shown = "no tag (that is `latest`)" if ref.tag is None else "the tag `latest`"
        engine = server_engine(c)
        fix = (
            f"set {tier_path(props, 'imageVersion')} to a release, e.g. "
            f"{engine.default_version}, or unset it for the engine's pinned release"
            if engine is not None
            else "pin a version tag or a @sha256 digest"
        )
        out.append(
            f"{where(resource_type, props)} {_label(c)}: image {image!r} has {shown}; "
            f"every node may run a different build and a restart can change the server. "
            f"Fix: {fix}."
        )
    return out


def check_revision_pinned(
    resource_type: str, props: Mapping[str, Any], config: Config
) -> list[str]:
    """The model revision (TGI REVISION, vLLM and SGLang --revision) is a 40-hex sha."""
    out: list[str] = []
    for _, c, engine in _servers(resource_type, props):
        revision = _revision(c, engine)
        if PINNED_REVISION.match(revision):
            continue
        out.append(
            f"{where(resource_type, props)} {_label(c)}: {_name(engine, 'revision')}="
            f"{revision!r} is not a commit "
            "sha; a push to the model repo changes what new pods load, with no review and no "
            f"blue/green swap. Fix: set {tier_path(props, 'revision')} to the 40-hex commit sha "
            "from the model's Hub page (Files → history)."
        )
    return out


def check_hf_token_secret_ref(
    resource_type: str, props: Mapping[str, Any], config: Config
) -> list[str]:
    """The HF token reaches pods only through `valueFrom.secretKeyRef`; no token literal
    anywhere in a pod's env or args, or in a ConfigMap."""
    kind = kind_of(resource_type, props)
    at = where(resource_type, props)
    if kind == "ConfigMap":
        data = {**mapping(props.get("data")), **mapping(props.get("binaryData"))}
        return [
            f"{at}: key {key!r} holds what looks like a Hugging Face token (hf_…); ConfigMaps "
            "are readable by anyone who can read the namespace. Fix: move it to a Secret and "
            "reference it with secretKeyRef."
            for key, value in data.items()
            if isinstance(value, str) and HF_TOKEN_PATTERN.search(value)
        ]
    spec = _pods(resource_type, props)
    if spec is None:
        return []
    out: list[str] = []
    for c in containers(spec):
        for name, entry in env_entries(c).items():
            value = entry.get("value")
            if name in HF_TOKEN_ENV:
                if value is not None:
                    out.append(
                        f"{at} {_label(c)}: env {name} is a literal value; it lands in the "
                        "plan, the state and `kubectl get -o yaml`. Fix: reference a Secret "
                        f"(valueFrom.secretKeyRef, e.g. {naming.hf_token_secret_name()}/token)."
                    )
                elif not mapping(entry.get("valueFrom")).get("secretKeyRef"):
                    out.append(
                        f"{at} {_label(c)}: env {name} is not read from a Secret. "
                        "Fix: use valueFrom.secretKeyRef."
                    )
            elif isinstance(value, str) and HF_TOKEN_PATTERN.search(value):
                out.append(
                    f"{at} {_label(c)}: env {name} holds what looks like a Hugging Face "
                    "token (hf_…). Fix: put it in a Secret and use valueFrom.secretKeyRef."
                )
        for arg in (*sequence(c.get("command")), *sequence(c.get("args"))):
            if isinstance(arg, str) and HF_TOKEN_PATTERN.search(arg):
                out.append(
                    f"{at} {_label(c)}: the command line holds what looks like a Hugging Face "
                    "token (hf_…). Fix: pass it as env HF_TOKEN from a secretKeyRef."
                )
    return out


def check_gpu_limit_matches_shards(
    resource_type: str, props: Mapping[str, Any], config: Config
) -> list[str]:
    """The nvidia.com/gpu limit is set and equals the shards (TGI NUM_SHARD, vLLM
    --tensor-parallel-size, SGLang --tp-size): one GPU per shard."""
    out: list[str] = []
    for _, c, engine in _servers(resource_type, props):
        at = f"{where(resource_type, props)} {_label(c)}"
        gpus = gpu_limit(c)
        raw_shards = server_setting(c, engine, "num_shard")
        shards = as_int(raw_shards)
        shard_name = _name(engine, "num_shard")
        if gpus is None:
            out.append(
                f"{at}: no {naming.GPU_RESOURCE} limit; the pod may land on a node without a "
                "GPU or share one with another pod. "
                f"Fix: set resources.limits[{naming.GPU_RESOURCE}] to {shard_name} "
                f"({tier_path(props, 'numShard')})."
            )
        elif raw_shards is not None and shards != gpus:
            out.append(
                f"{at}: {naming.GPU_RESOURCE} limit {gpus} ≠ {shard_name}={raw_shards}; "
                f"{engine.display_name} "
                + (
                    "fails to start with fewer GPUs than shards"
                    if shards is not None and shards > gpus
                    else "leaves the extra GPUs idle while no other pod can use them"
                )
                + f". Fix: make the limit equal {tier_path(props, 'numShard')}."
            )
    return out


def check_shm_for_shards(resource_type: str, props: Mapping[str, Any], config: Config) -> list[str]:
    """A sharded server (more than one GPU, any engine) mounts an in-memory /dev/shm."""
    out: list[str] = []
    for spec, c, engine in _servers(resource_type, props):
        shards = as_int(server_setting(c, engine, "num_shard")) or gpu_limit(c) or 1
        if shards < 2:
            continue
        memory_volumes = {
            v.get("name")
            for v in sequence(spec.get("volumes"))
            if isinstance(v, Mapping) and mapping(v.get("emptyDir")).get("medium") == "Memory"
        }
        mounted = any(
            isinstance(m, Mapping)
            and m.get("mountPath") == "/dev/shm"
            and m.get("name") in memory_volumes
            for m in sequence(c.get("volumeMounts"))
        )
        if not mounted:
            out.append(
                f"{where(resource_type, props)} {_label(c)}: {shards} shards but no in-memory "
                "/dev/shm; NCCL falls back or fails on the container runtime's 64 MiB /dev/shm. "
                "Fix: add an emptyDir volume with medium: Memory mounted at /dev/shm."
            )
    return out


def check_startup_probe(resource_type: str, props: Mapping[str, Any], config: Config) -> list[str]:
    """Every engine server has a startupProbe (loading and warmup take minutes)."""
    return [
        f"{where(resource_type, props)} {_label(c)}: no startupProbe; liveness and readiness "
        f"probes kill or flap the pod while {engine.display_name} loads and warms up the "
        f"model. Fix: add a startupProbe on {engine.probe.startup} with failureThreshold × "
        "periodSeconds above the load time."
        for _, c, engine in _servers(resource_type, props)
        if not isinstance(c.get("startupProbe"), Mapping)
    ]


def tolerates_gpu_taint(spec: Mapping[str, Any]) -> bool:
    for t in sequence(spec.get("tolerations")):
        t = mapping(t)
        if t.get("effect") not in (None, "", "NoSchedule"):
            continue
        key, op = t.get("key"), t.get("operator", "Equal")
        if op == "Exists" and key in (None, "", naming.GPU_TAINT_KEY):
            return True
        if op == "Equal" and key == naming.GPU_TAINT_KEY:
            return True
    return False


def check_gpu_toleration(resource_type: str, props: Mapping[str, Any], config: Config) -> list[str]:
    """Pods that ask for GPUs tolerate the GPU nodes' taint (`nvidia.com/gpu:NoSchedule`)."""
    spec = _pods(resource_type, props)
    if spec is None or not any(gpu_limit(c) for c in containers(spec)):
        return []
    if tolerates_gpu_taint(spec):
        return []
    return [
        f"{where(resource_type, props)}: asks for {naming.GPU_RESOURCE} but does not tolerate "
        f"the GPU taint {naming.GPU_TAINT_KEY}:NoSchedule; it stays Pending on tainted GPU "
        f"nodes. Fix: add a toleration {{key: {naming.GPU_TAINT_KEY}, operator: Exists, "
        "effect: NoSchedule}."
    ]


def check_trust_remote_code_pinned(
    resource_type: str, props: Mapping[str, Any], config: Config
) -> list[str]:
    """Remote code (TGI TRUST_REMOTE_CODE, --trust-remote-code) only at a pinned revision."""
    out: list[str] = []
    for _, c, engine in _servers(resource_type, props):
        if not is_truthy(server_setting(c, engine, "trust_remote_code")):
            continue
        revision = _revision(c, engine)
        if PINNED_REVISION.match(revision):
            continue
        out.append(
            f"{where(resource_type, props)} {_label(c)}: {_name(engine, 'trust_remote_code')} "
            f"runs Python from the model repo at {_name(engine, 'revision')}={revision!r}, "
            "which anyone with push access can change. "
            f"Fix: pin {tier_path(props, 'revision')} to the audited commit sha, or drop "
            f"{tier_path(props, 'trustRemoteCode')}."
        )
    return out


def version_tuple(text: str) -> tuple[int, ...] | None:
    """`3.3.6` / `v2.4.1-rocm` -> (3, 3, 6) / (2, 4, 1); non-version tags -> None."""
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$", text)
    if not match:
        return None
    return tuple(int(p) for p in match.groups(default="0"))


def check_messages_api(resource_type: str, props: Mapping[str, Any], config: Config) -> list[str]:
    """The TGI image version serves the OpenAI Messages API (/v1/chat/completions, TGI ≥ 1.4)."""
    minimum = str(config.get("minimumVersion") or MESSAGES_API_VERSION)
    floor = version_tuple(minimum) or (1, 4, 0)
    out: list[str] = []
    for _, c in _tgi_servers(resource_type, props):
        ref = parse_image(str(c.get("image")))
        version = version_tuple(ref.tag or "")
        at = f"{where(resource_type, props)} {_label(c)}"
        fix = f"Fix: set {tier_path(props, 'imageVersion')} to {minimum} or later (e.g. 3.3.6)."
        if version is None:
            out.append(
                f"{at}: image tag {ref.tag or '(none)'!r} is not a version, so nothing shows "
                f"it serves /v1/chat/completions (TGI ≥ {minimum}), which the gateway's "
                f"OpenAI routes need. {fix}"
            )
        elif version < floor:
            out.append(
                f"{at}: TGI {ref.tag} predates the Messages API (/v1/chat/completions, "
                f"TGI {minimum}); the gateway's OpenAI routes would get 404s. {fix}"
            )
    return out


def check_no_load_balancer(
    resource_type: str, props: Mapping[str, Any], config: Config
) -> list[str]:
    """No Service of type LoadBalancer except the gateway's."""
    if kind_of(resource_type, props) != "Service":
        return []
    if mapping(props.get("spec")).get("type") != "LoadBalancer":
        return []
    name, ns = name_of(props) or "", namespace_of(props) or ""
    allowed = {str(s) for s in sequence(config.get("allowedServices"))}
    if labels_of(props).get(GATEWAY_OWNER_LABEL) or f"{ns}/{name}" in allowed:
        return []
    return [
        f"{where(resource_type, props)}: type LoadBalancer exposes it outside the gateway, "
        "bypassing tenant API keys and rate limits. Fix: use type ClusterIP and route through "
        f'the gateway ({naming.gateway_name()}), or list "{ns}/{name}" in the pack\'s '
        "`no-loadbalancer-services.allowedServices`."
    ]


RESOURCE_RULES: dict[str, ResourceRule] = {
    "tgi-token-limits": check_token_limits,
    "tgi-image-pinned": check_image_pinned,
    "tgi-revision-pinned": check_revision_pinned,
    "hf-token-secret-ref": check_hf_token_secret_ref,
    "tgi-gpu-limit-matches-shards": check_gpu_limit_matches_shards,
    "tgi-shm-for-shards": check_shm_for_shards,
    "tgi-startup-probe": check_startup_probe,
    "gpu-taint-toleration": check_gpu_toleration,
    "tgi-trust-remote-code-pinned": check_trust_remote_code_pinned,
    "tgi-messages-api": check_messages_api,
    "no-loadbalancer-services": check_no_load_balancer,
}
