"""The gateway as Kubernetes objects: one OpenAI-compatible endpoint for every tier.

Gateway API + Envoy Gateway + Envoy AI Gateway, all in the tiers' namespace:

- `Gateway` with one HTTPS listener for `gateway.hostname`, TLS from `gateway.tlsSecretName`
  (annotated for cert-manager's gateway-shim when `gateway.clusterIssuer` is set), and a
  `ClientTrafficPolicy` that raises the request buffer (AI Gateway reads whole bodies) and
  drops client-sent identity headers.
- OpenAI routing: `AIGatewayRoute` rules match the `x-ai-eg-model` header (AI Gateway sets it
  from the request body's `model`) to the tier's `AIServiceBackend`, which points at an
  Envoy Gateway `Backend` (the tier's router Service by DNS name). AI Gateway generates an
  HTTPRoute of the same name that serves `/v1/chat/completions`, `/v1/completions` and
  `/v1/models`; the policies below target it by that name.
- Fallback: per tier an `HTTPRoute` under `/tiers/<tier>/` for TGI's own API
  (`/generate`, `/generate_stream`, `/info`, ...), straight to the router Service.
- Authentication: a `SecurityPolicy` per route with `apiKeyAuth` over every tenant's key
  Secret (a missing or unknown key is a 401), forwarding the tenant's name as `x-tenant-id`,
  and `authorization` rules allowing each tenant only its tiers' models (403 otherwise);
  a header list longer than the CRD's 256 values is split across rules.
- Limits: one `BackendTrafficPolicy` over all routes with shared global rate limits per
  tenant (requests/min, and total tokens/min charged from AI Gateway's token count) and per
  tier (`gateway.tierRequestsPerMinute`); over a limit is a 429.

Secrets stay out of here: key Secrets are referenced by name; `tenant_key_secret` gives
the Secret's shape and the component adds the key from a Pulumi secret.
"""

from __future__ import annotations

from typing import Any

from tgi_infra import naming
from tgi_infra.config.models import PlatformConfig, TenantConfig, TierConfig
from tgi_infra.escape import re2_literal

K8s = dict[str, Any]

GATEWAY_API = "gateway.networking.k8s.io"
ENVOY_GATEWAY = "gateway.envoyproxy.io"
AI_GATEWAY = "aigateway.envoyproxy.io"
AI_GATEWAY_VERSION = "v1beta1"
LISTENER = "https"
HTTPS_PORT = 443
TENANT_HEADER = "x-tenant-id"
"""Set by Envoy's api_key_auth to the authenticated tenant (overwriting any client value)."""
MODEL_HEADER = "x-ai-eg-model"
"""Set by AI Gateway's filter from the request body's `model` before routing."""
API_KEY_HEADERS = ("authorization", "x-api-key")
"""Where the key is read: `Authorization: Bearer <key>` (OpenAI clients) or `x-api-key`."""
AI_METADATA_NAMESPACE = "io.envoy.ai_gateway"
TOTAL_TOKENS_KEY = "llm_total_token"
MAX_RULES_PER_AI_ROUTE = 15  # AIGatewayRoute.spec.rules maxItems (one slot is AI Gateway's)
REQUEST_TIMEOUT = "10m"  # a long generation streams for minutes; AI Gateway's default is 60s
REQUEST_BUFFER_LIMIT = "16Mi"  # Envoy's default 32 KiB refuses a long prompt (413)
CLUSTER_DOMAIN = "cluster.local"
FALLBACK_PATHS = (
    "/generate",
    "/generate_stream",
    "/v1/chat/completions",
    "/v1/completions",
    "/info",
    "/tokenize",
    "/health",
)
"""TGI endpoints reachable under `/tiers/<tier>`; `/metrics` and the rest stay private."""
MODELS_OWNER = "tgi-infra"
CERT_MANAGER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"


# --------------------------------------------------------------------------- helpers


def _meta(
    cfg: PlatformConfig, name: str, *, tier: str | None = None, tenant: str | None = None
) -> K8s:
    return {
        "name": name,
        "namespace": cfg.cluster.namespace,
        "labels": naming.labels(
            "gateway", instance=naming.gateway_name(), tier=tier, tenant=tenant
        ),
    }


def _route_ref(name: str) -> K8s:
    return {"group": GATEWAY_API, "kind": "HTTPRoute", "name": name}


def _parent_ref() -> K8s:
    return {
        "group": GATEWAY_API,
        "kind": "Gateway",
        "name": naming.gateway_name(),
        "sectionName": LISTENER,
    }


def served_tiers(cfg: PlatformConfig, tenant: TenantConfig) -> list[TierConfig]:
    """The tenant's tiers that exist, in config order (unknown names are a check's job)."""
    names = set(tenant.tiers)
    return [t for t in cfg.tiers if t.name in names]


def tenants_of(cfg: PlatformConfig, tier: str) -> list[TenantConfig]:
    """Tenants allowed on a tier, in config order."""
    return [t for t in cfg.tenants if tier in t.tiers]


def backend_hostname(cfg: PlatformConfig, tier: str) -> str:
    return f"{naming.service_name(tier)}.{cfg.cluster.namespace}.svc.{CLUSTER_DOMAIN}"


def endpoint_url(cfg: PlatformConfig) -> str:
    """The base URL clients give the OpenAI SDK."""
    return f"https://{cfg.gateway.hostname}/v1"


def openai_route_names(cfg: PlatformConfig) -> list[str]:
    chunks = max(1, -(-len(cfg.tiers) // MAX_RULES_PER_AI_ROUTE))
    return [naming.openai_route_name(i) for i in range(chunks)]


def route_names(cfg: PlatformConfig) -> list[str]:
    """Every HTTPRoute on the gateway: AI Gateway's generated ones, then the fallbacks."""
    return openai_route_names(cfg) + [naming.fallback_route_name(t.name) for t in cfg.tiers]


# --------------------------------------------------------------------------- listener


def gateway(cfg: PlatformConfig) -> K8s:
    """The Gateway: HTTPS on 443 for the hostname, routes from this namespace only."""
    gw = cfg.gateway
    meta = _meta(cfg, naming.gateway_name())
    if gw.cluster_issuer:
        meta["annotations"] = {CERT_MANAGER_ISSUER_ANNOTATION: gw.cluster_issuer}
    return {
        "apiVersion": f"{GATEWAY_API}/v1",
        "kind": "Gateway",
        "metadata": meta,
        "spec": {
            "gatewayClassName": gw.gateway_class_name,
            "listeners": [
                {
                    "name": LISTENER,
                    "protocol": "HTTPS",
                    "port": HTTPS_PORT,
                    "hostname": gw.hostname,
                    "tls": {
                        "mode": "Terminate",
                        "certificateRefs": [
                            {"group": "", "kind": "Secret", "name": gw.tls_secret_name}
                        ],
                    },
                    "allowedRoutes": {
                        "namespaces": {"from": "Same"},
                        "kinds": [{"group": GATEWAY_API, "kind": "HTTPRoute"}],
                    },
                }
            ],
        },
    }


def client_traffic_policy(cfg: PlatformConfig) -> K8s:
    """Room for long prompts, and no client-supplied tenant or model header."""
    return {
        "apiVersion": f"{ENVOY_GATEWAY}/v1alpha1",
        "kind": "ClientTrafficPolicy",
        "metadata": _meta(cfg, naming.gateway_client_policy_name()),
        "spec": {
            "targetRefs": [
                {"group": GATEWAY_API, "kind": "Gateway", "name": naming.gateway_name()}
            ],
            "connection": {"bufferLimit": REQUEST_BUFFER_LIMIT},
            "headers": {"earlyRequestHeaders": {"remove": [TENANT_HEADER, MODEL_HEADER]}},
        },
    }


# --------------------------------------------------------------------------- backends


def backend(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    """Envoy Gateway Backend: the tier's router Service by its cluster DNS name."""
    return {
        "apiVersion": f"{ENVOY_GATEWAY}/v1alpha1",
        "kind": "Backend",
        "metadata": _meta(cfg, naming.ai_backend_name(tier.name), tier=tier.name),
        "spec": {
            "endpoints": [
                {
                    "fqdn": {
                        "hostname": backend_hostname(cfg, tier.name),
                        "port": naming.SERVICE_PORT,
                    }
                }
            ]
        },
    }


def ai_service_backend(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    """TGI speaks the OpenAI API under /v1: no translation, only routing and token counts."""
    return {
        "apiVersion": f"{AI_GATEWAY}/{AI_GATEWAY_VERSION}",
        "kind": "AIServiceBackend",
        "metadata": _meta(cfg, naming.ai_backend_name(tier.name), tier=tier.name),
        "spec": {
            "schema": {"name": "OpenAI", "prefix": "/v1"},
            "backendRef": {
                "group": ENVOY_GATEWAY,
                "kind": "Backend",
                "name": naming.ai_backend_name(tier.name),
            },
        },
    }


# --------------------------------------------------------------------------- routes


def _model_rule(tier: TierConfig) -> K8s:
    return {
        "name": tier.name,
        "matches": [
            {"headers": [{"type": "Exact", "name": MODEL_HEADER, "value": tier.model_name}]}
        ],
        "backendRefs": [{"name": naming.ai_backend_name(tier.name)}],
        "modelsOwnedBy": MODELS_OWNER,
        "timeouts": {"request": REQUEST_TIMEOUT},
    }


def openai_routes(cfg: PlatformConfig) -> list[K8s]:
    """AIGatewayRoute(s): a rule per tier, by model name; 15 rules per route at most."""
    names = openai_route_names(cfg)
    routes = []
    for i, name in enumerate(names):
        tiers = cfg.tiers[i * MAX_RULES_PER_AI_ROUTE : (i + 1) * MAX_RULES_PER_AI_ROUTE]
        routes.append(
            {
                "apiVersion": f"{AI_GATEWAY}/{AI_GATEWAY_VERSION}",
                "kind": "AIGatewayRoute",
                "metadata": _meta(cfg, name),
                "spec": {
                    "parentRefs": [_parent_ref()],
                    "hostnames": [cfg.gateway.hostname],
                    "rules": [_model_rule(t) for t in tiers],
                    "llmRequestCosts": [{"metadataKey": TOTAL_TOKENS_KEY, "type": "TotalToken"}],
                },
            }
        )
    return routes


def fallback_route(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    """`/tiers/<tier>/<TGI path>` → the router Service, with the prefix stripped."""
    prefix = naming.fallback_path_prefix(tier.name)
    rules = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": f"{prefix}{path}"}}],
            "filters": [
                {
                    "type": "URLRewrite",
                    "urlRewrite": {
                        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": path}
                    },
                }
            ],
            "backendRefs": [
                {
                    "group": "",
                    "kind": "Service",
                    "name": naming.service_name(tier.name),
                    "port": naming.SERVICE_PORT,
                }
            ],
            "timeouts": {"request": REQUEST_TIMEOUT},
        }
        for path in FALLBACK_PATHS
    ]
    return {
        "apiVersion": f"{GATEWAY_API}/v1",
        "kind": "HTTPRoute",
        "metadata": _meta(cfg, naming.fallback_route_name(tier.name), tier=tier.name),
        "spec": {
            "parentRefs": [_parent_ref()],
            "hostnames": [cfg.gateway.hostname],
            "rules": rules,
        },
    }


# --------------------------------------------------------------------------- auth


def tenant_key_secret(cfg: PlatformConfig, tenant: TenantConfig) -> K8s:
    """The shape of a tenant's key Secret; the component adds `stringData: {tenant: key}`.

    Envoy Gateway reads every data key of the Secret as a client id whose value is its API
    key: the id (the tenant's name) is what `x-tenant-id` carries after authentication.
    """
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(cfg, naming.tenant_key_secret_name(tenant.name), tenant=tenant.name),
    }


def api_key_auth(cfg: PlatformConfig) -> K8s:
    """Every tenant's key is valid on every route; authorization decides what it reaches."""
    return {
        "credentialRefs": [
            {"group": "", "kind": "Secret", "name": naming.tenant_key_secret_name(t.name)}
            for t in cfg.tenants
        ],
        "extractFrom": [{"headers": list(API_KEY_HEADERS)}],
        "forwardClientIDHeader": TENANT_HEADER,
        "sanitize": True,
    }


def _security_policy(
    cfg: PlatformConfig, name: str, targets: list[str], rules: list[K8s], tier: str | None = None
) -> K8s:
    authorization: K8s = {"defaultAction": "Deny"}
    if rules:
        authorization["rules"] = rules
    return {
        "apiVersion": f"{ENVOY_GATEWAY}/v1alpha1",
        "kind": "SecurityPolicy",
        "metadata": _meta(cfg, name, tier=tier),
        "spec": {
            "targetRefs": [_route_ref(t) for t in targets],
            "apiKeyAuth": api_key_auth(cfg),
            "authorization": authorization,
        },
    }


MAX_HEADER_VALUES = 256
"""SecurityPolicy `authorization.rules[].principal.headers[].values` maxItems (Envoy Gateway
v1.9.0 CRD); longer lists are split across rules that differ only in the values."""


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + MAX_HEADER_VALUES] for i in range(0, len(values), MAX_HEADER_VALUES)]


def _numbered(name: str, i: int, n: int) -> str:
    """The rule's name, numbered only when a list was split (one chunk keeps the name)."""
    return name if n == 1 else f"{name}-{i}"


def _allow_tenants(name: str, tenants: list[str], extra: K8s | None = None) -> list[K8s]:
    """Allow rules for these tenants (split at MAX_HEADER_VALUES); `extra` is merged in."""
    chunks = _chunks(tenants)
    return [
        {
            "name": _numbered(name, i, len(chunks)),
            "action": "Allow",
            **(extra or {}),
            "principal": {"headers": [{"name": TENANT_HEADER, "values": chunk}]},
        }
        for i, chunk in enumerate(chunks)
    ]


def openai_security_policy(cfg: PlatformConfig) -> K8s:
    """Each tenant may name only its tiers' models; any tenant may list the models."""
    list_models = {
        "operation": {"methods": ["GET"], "path": {"type": "Exact", "value": "/v1/models"}}
    }
    rules = _allow_tenants("list-models", [t.name for t in cfg.tenants], list_models)
    for tenant in cfg.tenants:
        chunks = _chunks([t.model_name for t in served_tiers(cfg, tenant)])
        rules += [
            {
                "name": _numbered(f"tenant-{tenant.name}", i, len(chunks)),
                "action": "Allow",
                "principal": {
                    "headers": [
                        {"name": TENANT_HEADER, "values": [tenant.name]},
                        {"name": MODEL_HEADER, "values": models},
                    ]
                },
            }
            for i, models in enumerate(chunks)
        ]
    names = openai_route_names(cfg)
    return _security_policy(cfg, names[0], names, rules)


def fallback_security_policy(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    """Only the tier's tenants reach its fallback route."""
    allowed = [t.name for t in tenants_of(cfg, tier.name)]
    name = naming.fallback_route_name(tier.name)
    return _security_policy(cfg, name, [name], _allow_tenants("tenants", allowed), tier=tier.name)


def referenced_secrets(obj: K8s) -> list[str]:
    """Names of the Secrets a SecurityPolicy's apiKeyAuth reads (none for other objects)."""
    refs = obj.get("spec", {}).get("apiKeyAuth", {}).get("credentialRefs", [])
    return [r["name"] for r in refs if r.get("kind", "Secret") == "Secret" and not r.get("group")]


# --------------------------------------------------------------------------- limits


def _per_minute(requests: int) -> K8s:
    return {"requests": requests, "unit": "Minute"}


def _header_selector(name: str, value: str) -> list[K8s]:
    return [{"headers": [{"name": name, "type": "Exact", "value": value}]}]


HEADER_VALUE_MAX = 1024  # BackendTrafficPolicy clientSelectors[].headers[].value maxLength


def _tenants_selector(names: list[str]) -> list[K8s]:
    """One tenant: an exact match. Several with the same limit: `Distinct` gives each tenant
    its own bucket, and the expression restricts the rule to these tenants (the same pair
    Envoy Gateway documents for "every user but admin")."""
    if len(names) == 1:
        return _header_selector(TENANT_HEADER, names[0])
    return [
        {
            "headers": [
                {"name": TENANT_HEADER, "type": "Distinct"},
                {
                    "name": TENANT_HEADER,
                    "type": "RegularExpression",
                    "value": "^(" + "|".join(map(re2_literal, names)) + ")$",
                },
            ]
        }
    ]


def _same_limit_groups(limits: dict[str, int]) -> list[tuple[int, list[str]]]:
    """Tenants by equal limit, in chunks whose expression fits a header value."""
    groups: list[tuple[int, list[str]]] = []
    for limit in sorted(set(limits.values())):
        chunk: list[str] = []
        for name in sorted(n for n, v in limits.items() if v == limit):
            if chunk and len("^()$") + len("|".join([*chunk, name])) > HEADER_VALUE_MAX:
                groups.append((limit, chunk))
                chunk = []
            chunk.append(name)
        groups.append((limit, chunk))
    return groups


TOKEN_COST = {
    "request": {"from": "Number", "number": 0},
    "response": {
        "from": "Metadata",
        "metadata": {"namespace": AI_METADATA_NAMESPACE, "key": TOTAL_TOKENS_KEY},
    },
}


def tenant_limit_rules(tenants: list[TenantConfig]) -> list[K8s]:
    """Requests/min, and total tokens/min, per tenant: each response is charged its token
    count, and a request is refused (429) once the minute's budget is spent. Tenants with
    equal limits share a rule (each still has its own bucket), so hundreds of tenants fit
    one policy."""
    rules: list[K8s] = []
    requests = {t.name: t.requests_per_minute for t in tenants}
    for limit, names in _same_limit_groups(requests):
        rules.append(
            {
                "clientSelectors": _tenants_selector(names),
                "limit": _per_minute(limit),
                "shared": True,
            }
        )
    tokens = {t.name: t.tokens_per_minute for t in tenants}
    for limit, names in _same_limit_groups(tokens):
        rules.append(
            {
                "clientSelectors": _tenants_selector(names),
                "limit": _per_minute(limit),
                "cost": TOKEN_COST,
                "shared": True,
            }
        )
    return rules


def tier_limit_rules(tier: TierConfig, requests_per_minute: int) -> list[K8s]:
    """All tenants together on one tier: by model on the OpenAI routes, by path on the
    fallback route (each entrance has its own bucket of this size)."""
    # The trailing slash keeps tier `t1` from also counting `/tiers/t10/...`.
    path = {"type": "PathPrefix", "value": f"{naming.fallback_path_prefix(tier.name)}/"}
    return [
        {
            "clientSelectors": _header_selector(MODEL_HEADER, tier.model_name),
            "limit": _per_minute(requests_per_minute),
            "shared": True,
        },
        {
            "clientSelectors": [{"path": path}],
            "limit": _per_minute(requests_per_minute),
            "shared": True,
        },
    ]


def limit_rules(cfg: PlatformConfig) -> list[K8s]:
    rules = tenant_limit_rules(list(cfg.tenants))
    tier_rpm = cfg.gateway.tier_requests_per_minute
    if tier_rpm is not None:
        rules += [r for t in cfg.tiers for r in tier_limit_rules(t, tier_rpm)]
    return rules


def limits_policy(cfg: PlatformConfig) -> K8s | None:
    """One policy over every route, so `shared` buckets span the tiers (None: no limits)."""
    rules = limit_rules(cfg)
    if not rules:
        return None
    return {
        "apiVersion": f"{ENVOY_GATEWAY}/v1alpha1",
        "kind": "BackendTrafficPolicy",
        "metadata": _meta(cfg, naming.gateway_limits_policy_name()),
        "spec": {
            "targetRefs": [_route_ref(n) for n in route_names(cfg)],
            "rateLimit": {"global": {"rules": rules}},
        },
    }


# --------------------------------------------------------------------------- all


def build_gateway_objects(cfg: PlatformConfig) -> list[K8s]:
    """Every gateway object in creation order (no key Secrets); [] when the gateway is off."""
    if not cfg.gateway.enabled:
        return []
    objs = [gateway(cfg), client_traffic_policy(cfg)]
    for tier in cfg.tiers:
        objs += [backend(cfg, tier), ai_service_backend(cfg, tier)]
    objs += openai_routes(cfg)
    objs += [fallback_route(cfg, t) for t in cfg.tiers]
    objs.append(openai_security_policy(cfg))
    objs += [fallback_security_policy(cfg, t) for t in cfg.tiers]
    limits = limits_policy(cfg)
    return objs + ([limits] if limits else [])
