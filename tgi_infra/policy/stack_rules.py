"""Stack policies as pure functions: `(every resource of the plan, config) -> violations`.

A violation is `(message, urn)`; the URN names the offending resource. These need more
than one object: a PDB must select a Deployment's pods, a route must be covered by an
Envoy Gateway policy, a monitor must reach a tier. Gateway and monitor rules pass
vacuously only when the stack has no objects of that family at all (a stack without a
gateway or without Prometheus Operator), as their descriptions say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tgi_infra import naming
from tgi_infra.policy.k8s import (
    ROUTE_KINDS,
    PlanObject,
    as_int,
    containers,
    get_path,
    is_server,
    labels_of,
    mapping,
    name_of,
    namespace_selector_matches,
    pod_spec,
    pod_template_metadata,
    same_namespace,
    selector_matches,
    sequence,
)

Config = Mapping[str, Any]
Violation = tuple[str, str | None]
StackRule = Callable[[Sequence[PlanObject], Config], list[Violation]]
AUTH_METHODS = ("apiKeyAuth", "jwt", "basicAuth", "extAuth", "oidc")
SCRAPE_ANNOTATION = "prometheus.io/scrape"


_KIND_CACHE: dict[tuple[int, tuple[str, ...]], tuple[object, int, list[PlanObject]]] = {}


def of_kind(objs: Iterable[PlanObject], *kinds: str) -> list[PlanObject]:
    """The objects of these kinds. Rules ask this of the same plan thousands of times (per
    route, per tenant): a plan held in a list is scanned once per kind set (the cache is
    keyed on the list itself and its length, and holds a few plans at most)."""
    if not isinstance(objs, list):
        return [o for o in objs if o.kind in kinds]
    key = (id(objs), kinds)
    hit = _KIND_CACHE.get(key)
    if hit is None or hit[0] is not objs or hit[1] != len(objs):
        if len(_KIND_CACHE) > 64:
            _KIND_CACHE.clear()
        hit = (objs, len(objs), [o for o in objs if o.kind in kinds])
        _KIND_CACHE[key] = hit
    return list(hit[2])


def tgi_workloads(objs: Iterable[PlanObject]) -> list[PlanObject]:
    """Workloads with an engine server container, TGI, vLLM or SGLang (Deployments,
    StatefulSets, Pods...)."""
    out = []
    for o in objs:
        spec = pod_spec(o.kind, o.props)
        if spec is not None and any(is_server(c) for c in containers(spec)):
            out.append(o)
    return out


def pod_labels(o: PlanObject) -> Mapping[str, Any]:
    return mapping(pod_template_metadata(o.kind, o.props).get("labels"))


def _tier(o: PlanObject) -> str:
    tier = labels_of(o.props).get(naming.TIER_LABEL)
    return f" (tiers[{tier}])" if isinstance(tier, str) else ""


def _scaled_max(objs: Sequence[PlanObject], workload: PlanObject) -> int:
    """The most replicas a workload can run: spec.replicas, or its autoscaler's maximum."""
    most = as_int(get_path(workload.props, ("spec", "replicas")))
    most = 1 if most is None else most
    name = name_of(workload.props)
    for scaler in of_kind(objs, "HorizontalPodAutoscaler", "ScaledObject"):
        spec = mapping(scaler.props.get("spec"))
        target = mapping(spec.get("scaleTargetRef"))
        if target.get("name") != name or not same_namespace(scaler.namespace, workload.namespace):
            continue
        if target.get("kind", "Deployment") != workload.kind:
            continue
        keda = scaler.kind == "ScaledObject"
        top = as_int(spec.get("maxReplicaCount" if keda else "maxReplicas"))
        most = max(most, top if top is not None else (100 if keda else 1))  # KEDA's default
    return most


def check_disruption_budget(objs: Sequence[PlanObject], config: Config) -> list[Violation]:
    """Every TGI workload that can run ≥ 2 replicas is covered by a PodDisruptionBudget."""
    pdbs = of_kind(objs, "PodDisruptionBudget")
    out: list[Violation] = []
    for w in tgi_workloads(objs):
        if w.kind == "Pod" or _scaled_max(objs, w) < 2:
            continue
        labels = pod_labels(w)
        covered = any(
            same_namespace(p.namespace, w.namespace)
            and mapping(p.props.get("spec")).get("selector") is not None
            and selector_matches(mapping(p.props.get("spec")).get("selector"), labels)
            for p in pdbs
        )
        if not covered:
            out.append(
                (
                    f"{w.ref}{_tier(w)} runs up to {_scaled_max(objs, w)} replicas but no "
                    "PodDisruptionBudget selects its pods: a node drain or Karpenter "
                    "consolidation can evict every replica at once, and reloading weights takes "
                    "minutes. Fix: add a PDB (maxUnavailable: 1) selecting "
                    f"{naming.TIER_LABEL}=<tier> in namespace {w.namespace}.",
                    w.urn,
                )
            )
    return out


def check_network_policy(objs: Sequence[PlanObject], config: Config) -> list[Violation]:
    """Every TGI pod is selected by a NetworkPolicy that restricts ingress."""
    policies = of_kind(objs, "NetworkPolicy")
    out: list[Violation] = []
    for w in tgi_workloads(objs):
        labels = pod_labels(w)
        covered = False
        for p in policies:
            spec = mapping(p.props.get("spec"))
            types = [str(t) for t in sequence(spec.get("policyTypes"))] or ["Ingress"]
            if (
                same_namespace(p.namespace, w.namespace)
                and "Ingress" in types
                and selector_matches(spec.get("podSelector"), labels)
            ):
                covered = True
                break
        if not covered:
            out.append(
                (
                    f"{w.ref}{_tier(w)}: no NetworkPolicy with Ingress selects its pods, so any "
                    "pod in the cluster can call TGI directly, past the gateway's API keys and "
                    "limits. Fix: add a NetworkPolicy selecting "
                    f"{naming.TIER_LABEL}=<tier> that admits only the gateway and monitoring "
                    "namespaces.",
                    w.urn,
                )
            )
    return out


def _refs(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [mapping(r) for r in (spec.get("targetRef"), *sequence(spec.get("targetRefs"))) if r]


def policy_targets(policy: PlanObject, route: PlanObject) -> bool:
    """Does an Envoy Gateway policy (SecurityPolicy, BackendTrafficPolicy) apply to a route?

    Directly (`targetRef(s)` naming the route: an AIGatewayRoute is served by the HTTPRoute
    of the same name that AI Gateway generates), through a `targetSelectors` label match, or
    through the Gateway the route attaches to.
    """
    if not same_namespace(policy.namespace, route.namespace):
        return False
    spec = mapping(policy.props.get("spec"))
    name = name_of(route.props)
    route_kinds = {route.kind, "HTTPRoute"} if route.kind == "AIGatewayRoute" else {route.kind}
    gateways = {
        str(mapping(p).get("name"))
        for p in sequence(mapping(route.props.get("spec")).get("parentRefs"))
        if mapping(p).get("kind", "Gateway") == "Gateway"
    }
    for ref in _refs(spec):
        if ref.get("kind") in route_kinds and ref.get("name") == name:
            return True
        if ref.get("kind") == "Gateway" and ref.get("name") in gateways:
            return True
    for sel in sequence(spec.get("targetSelectors")):
        sel = mapping(sel)
        if sel.get("kind") in route_kinds and selector_matches(sel, labels_of(route.props)):
            return True
    return False


def _route_coverage(
    objs: Sequence[PlanObject], policy_kind: str, has_feature: Callable[[Mapping[str, Any]], bool]
) -> list[tuple[PlanObject, bool]]:
    policies = [p for p in of_kind(objs, policy_kind) if has_feature(mapping(p.props.get("spec")))]
    return [(r, any(policy_targets(p, r) for p in policies)) for r in of_kind(objs, *ROUTE_KINDS)]


def has_auth(spec: Mapping[str, Any]) -> bool:
    return any(isinstance(spec.get(m), Mapping) for m in AUTH_METHODS)


def has_rate_limit(spec: Mapping[str, Any]) -> bool:
    limit = mapping(spec.get("rateLimit"))
    return any(
        len(sequence(mapping(limit.get(scope)).get("rules"))) > 0 for scope in ("global", "local")
    )


def check_route_auth(objs: Sequence[PlanObject], config: Config) -> list[Violation]:
    """Every gateway route is covered by a SecurityPolicy with authentication."""
    return [
        (
            f"{r.ref}: no SecurityPolicy with authentication ({', '.join(AUTH_METHODS)}) targets "
            "this route or its Gateway, so anyone who reaches the gateway can call the model. "
            "Fix: add a SecurityPolicy with apiKeyAuth (the tenants' keys) whose targetRefs "
            f"name HTTPRoute/{name_of(r.props)}.",
            r.urn,
        )
        for r, covered in _route_coverage(objs, "SecurityPolicy", has_auth)
        if not covered
    ]


def check_route_rate_limit(objs: Sequence[PlanObject], config: Config) -> list[Violation]:
    """Every gateway route is covered by a BackendTrafficPolicy with a rate limit, and every
    tenant the route authenticates has a rate-limit rule of its own there."""
    out: list[Violation] = [
        (
            f"{r.ref}: no BackendTrafficPolicy with rateLimit rules targets this route or its "
            "Gateway; one tenant can saturate every replica and the others' requests queue "
            "until they time out. Fix: add rateLimit rules (per tenant: requestsPerMinute, "
            f"tokensPerMinute) in a BackendTrafficPolicy targeting HTTPRoute/{name_of(r.props)}.",
            r.urn,
        )
        for r, covered in _route_coverage(objs, "BackendTrafficPolicy", has_rate_limit)
        if not covered
    ]
    return out + _unlimited_tenants(objs)


def _rules_for(objs: Sequence[PlanObject], route: PlanObject) -> list[Mapping[str, Any]]:
    """Rate-limit rules of every BackendTrafficPolicy that applies to the route."""
    rules: list[Mapping[str, Any]] = []
    for p in of_kind(objs, "BackendTrafficPolicy"):
        if policy_targets(p, route):
            limit = mapping(mapping(p.props.get("spec")).get("rateLimit"))
            for scope in ("global", "local"):
                rules += [mapping(r) for r in sequence(mapping(limit.get(scope)).get("rules"))]
    return rules


def selects_tenant(rule: Mapping[str, Any], header: str, tenant: str) -> bool:
    """Does a rule give `tenant` (the value of `header`) a bucket: an Exact match, a matching
    RegularExpression, or `Distinct` (a bucket per value) without a regex excluding it?"""
    return TenantSelectors([rule], header).selects(tenant)


class TenantSelectors:
    """The client selectors of some rate-limit rules on one header, read once, so asking
    for each of thousands of tenants costs a set lookup (plus any regexes), not a walk
    through every rule's selectors (`selects_tenant` over 2,000 tenants: minutes)."""

    def __init__(self, rules: Sequence[Mapping[str, Any]], header: str) -> None:
        self.exact: set[Any] = set()
        self.patterns: list[list[re.Pattern[str]]] = []
        """Per selector without Exact values: its regexes (none: Distinct, every tenant)."""
        for rule in rules:
            for selector in sequence(rule.get("clientSelectors")):
                on_header = [
                    mapping(h)
                    for h in sequence(mapping(selector).get("headers"))
                    if str(mapping(h).get("name", "")).lower() == header.lower()
                ]
                exact = [h for h in on_header if h.get("type", "Exact") == "Exact"]
                regexes = [h for h in on_header if h.get("type") == "RegularExpression"]
                distinct = any(h.get("type") == "Distinct" for h in on_header)
                self.exact.update(h["value"] for h in exact if isinstance(h.get("value"), str))
                if not exact and (regexes or distinct):
                    try:
                        self.patterns.append([re.compile(str(h.get("value", ""))) for h in regexes])
                    except re.error:
                        continue  # a selector with a broken regex selects no one

    def selects(self, tenant: str) -> bool:
        return tenant in self.exact or any(
            all(p.fullmatch(tenant) for p in patterns) for patterns in self.patterns
        )


def _unlimited_tenants(objs: Sequence[PlanObject]) -> list[Violation]:
    """Tenants (key Secrets labelled with their tenant) an apiKeyAuth admits on a route that
    has rate limits, but no rule of which gives them a bucket of their own."""
    secrets = {(s.namespace, name_of(s.props)): s for s in of_kind(objs, "Secret")}
    all_routes = of_kind(objs, *ROUTE_KINDS)
    # Each route's rules once, and each (route, header, tenant) answer once: without these
    # the check grows with tiers x tiers x tenants x objects (minutes at 200 tiers).
    route_rules = {r.urn: _rules_for(objs, r) for r in all_routes}
    selectors: dict[tuple[str, str], TenantSelectors] = {}
    answers: dict[tuple[str, str, str], bool] = {}

    def unlimited(route: PlanObject, header: str, tenant: str) -> bool:
        key = (route.urn, header, tenant)
        if key not in answers:
            rules = route_rules[route.urn]
            if (route.urn, header) not in selectors:
                selectors[route.urn, header] = TenantSelectors(rules, header)
            answers[key] = bool(rules) and not selectors[route.urn, header].selects(tenant)
        return answers[key]

    out: list[Violation] = []
    seen: set[str] = set()
    for policy in of_kind(objs, "SecurityPolicy"):
        auth = mapping(mapping(policy.props.get("spec")).get("apiKeyAuth"))
        header = auth.get("forwardClientIDHeader")
        if not isinstance(header, str) or not header:
            continue  # tenants are not told apart downstream: nothing to check per tenant
        routes = [r for r in all_routes if policy_targets(policy, r)]
        for ref in sequence(auth.get("credentialRefs")):
            secret = secrets.get((policy.namespace, mapping(ref).get("name")))
            tenant = labels_of(secret.props).get(naming.TENANT_LABEL) if secret else None
            if not isinstance(tenant, str) or tenant in seen:
                continue
            bare = [r for r in routes if unlimited(r, header, tenant)]
            if bare and secret is not None:
                seen.add(tenant)
                out.append(
                    (
                        f"tenants[{tenant}]: no rate-limit rule selects this tenant ({header}: "
                        f"{tenant}) on {', '.join(r.ref for r in bare)}; it shares whatever "
                        "bucket is left, or none. Fix: give the tenant requestsPerMinute and "
                        "tokensPerMinute (rules whose clientSelectors match its "
                        f"{header}).",
                        secret.urn,
                    )
                )
    return out


def service_hosts(svc: PlanObject) -> set[str]:
    """The DNS names a Service answers to, as a Backend's fqdn endpoint would spell them."""
    name, ns = name_of(svc.props), svc.namespace or "default"
    return {f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"}


def _backend_reaches(backend: PlanObject, svc: PlanObject) -> bool:
    """An Envoy Gateway `Backend` whose endpoints name the Service's DNS name."""
    hosts = service_hosts(svc)
    for ep in sequence(mapping(backend.props.get("spec")).get("endpoints")):
        host = mapping(mapping(ep).get("fqdn")).get("hostname")
        if isinstance(host, str) and host.rstrip(".") in hosts:
            return True
    return False


def _ref_reaches(
    ref: Mapping[str, Any], owner: PlanObject, svc: PlanObject, objs: Sequence[PlanObject]
) -> bool:
    """A backendRef (of a route or an AIServiceBackend) that ends at the Service."""
    kind = ref.get("kind") or "Service"
    ns = ref.get("namespace") or owner.namespace
    if kind == "Service":
        return ref.get("name") == name_of(svc.props) and same_namespace(ns, svc.namespace)
    if kind == "Backend":
        return any(
            name_of(b.props) == ref.get("name")
            and same_namespace(b.namespace, ns)
            and _backend_reaches(b, svc)
            for b in of_kind(objs, "Backend")
        )
    return False


def route_reaches(route: PlanObject, svc: PlanObject, objs: Sequence[PlanObject]) -> bool:
    for rule in sequence(mapping(route.props.get("spec")).get("rules")):
        for ref in sequence(mapping(rule).get("backendRefs")):
            ref = mapping(ref)
            if route.kind != "AIGatewayRoute":
                if _ref_reaches(ref, route, svc, objs):
                    return True
                continue
            if ref.get("kind") not in (None, "AIServiceBackend"):
                continue
            for backend in of_kind(objs, "AIServiceBackend"):
                if name_of(backend.props) != ref.get("name"):
                    continue
                if not same_namespace(backend.namespace, ref.get("namespace") or route.namespace):
                    continue
                inner = mapping(mapping(backend.props.get("spec")).get("backendRef"))
                if _ref_reaches(inner, backend, svc, objs):
                    return True
    return False


def tier_services(objs: Sequence[PlanObject]) -> list[PlanObject]:
    """The tiers' router Services: Services selecting TGI pods."""
    workloads = tgi_workloads(objs)
    out = []
    for svc in of_kind(objs, "Service"):
        selector = mapping(mapping(svc.props.get("spec")).get("selector"))
        if not selector:
            continue
        if any(
            same_namespace(svc.namespace, w.namespace)
            and all(pod_labels(w).get(k) == v for k, v in selector.items())
            for w in workloads
        ):
            out.append(svc)
    return out


def check_service_routed(objs: Sequence[PlanObject], config: Config) -> list[Violation]:
    """Every tier's Service is the backend of some gateway route."""
    routes = of_kind(objs, *ROUTE_KINDS)
    if not routes:
        return []
    return [
        (
            f"{svc.ref}{_tier(svc)}: no gateway route leads to this tier's Service (directly, or "
            "through an AIServiceBackend and its Backend), so its GPUs serve nobody. Fix: add "
            "the tier to the AIGatewayRoute (a rule matching its model name) or give it a "
            "fallback HTTPRoute.",
            svc.urn,
        )
        for svc in tier_services(objs)
        if not any(route_reaches(r, svc, objs) for r in routes)
    ]


def _monitored_by_service_monitor(monitor: PlanObject, reaching: Sequence[PlanObject]) -> bool:
    """Does the ServiceMonitor select one of `reaching`, the Services of a workload's pods?"""
    spec = mapping(monitor.props.get("spec"))
    return any(
        namespace_selector_matches(spec.get("namespaceSelector"), svc.namespace, monitor.namespace)
        and selector_matches(spec.get("selector"), labels_of(svc.props))
        for svc in reaching
    )


def _services_of(w: PlanObject, services: Sequence[PlanObject]) -> list[PlanObject]:
    """The Services (of `services`) whose selector picks `w`'s pods."""
    labels = pod_labels(w)
    out = []
    for svc in services:
        svc_selector = mapping(mapping(svc.props.get("spec")).get("selector"))
        if (
            svc_selector
            and same_namespace(svc.namespace, w.namespace)
            and all(labels.get(k) == v for k, v in svc_selector.items())
        ):
            out.append(svc)
    return out


def check_deployment_monitored(objs: Sequence[PlanObject], config: Config) -> list[Violation]:
    """Every TGI workload is scraped: a PodMonitor or a ServiceMonitor (through a Service)
    reaches its pods, or they carry `prometheus.io/scrape: "true"`."""
    monitors = of_kind(objs, "ServiceMonitor", "PodMonitor")
    workloads = tgi_workloads(objs)
    annotated = [
        w
        for w in workloads
        if str(
            mapping(pod_template_metadata(w.kind, w.props).get("annotations")).get(
                SCRAPE_ANNOTATION
            )
        ).lower()
        == "true"
    ]
    if not monitors and not annotated:
        return []
    services = of_kind(objs, "Service")
    out: list[Violation] = []
    for w in workloads:
        if w in annotated:
            continue
        covered = False
        reaching = _services_of(w, services)  # once per workload, not per monitor
        for m in monitors:
            spec = mapping(m.props.get("spec"))
            if m.kind == "PodMonitor":
                covered = namespace_selector_matches(
                    spec.get("namespaceSelector"), w.namespace, m.namespace
                ) and selector_matches(spec.get("selector"), pod_labels(w))
            else:
                covered = _monitored_by_service_monitor(m, reaching)
            if covered:
                break
        if not covered:
            out.append(
                (
                    f"{w.ref}{_tier(w)}: no ServiceMonitor or PodMonitor reaches its pods, so "
                    "its queue, latency and errors are invisible: no alerts, and the "
                    "autoscaler's queue metric is missing. Fix: add the tier's monitor "
                    "(observability.scrapeMode) selecting its Service or pods.",
                    w.urn,
                )
            )
    return out


STACK_RULES: dict[str, StackRule] = {
    "tier-disruption-budget": check_disruption_budget,
    "tgi-network-policy": check_network_policy,
    "gateway-route-auth": check_route_auth,
    "gateway-route-rate-limit": check_route_rate_limit,
    "tier-service-routed": check_service_routed,
    "tgi-deployment-monitored": check_deployment_monitored,
}
