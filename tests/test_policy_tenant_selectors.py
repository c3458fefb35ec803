"""TenantSelectors (one read of a route's rules) answers as the rule-by-rule walk did."""

from __future__ import annotations

import random
import re
from typing import Any

from tgi_infra.policy.stack_rules import TenantSelectors, selects_tenant


def _walk(rule: dict[str, Any], header: str, tenant: str) -> bool:
    """The walk `selects_tenant` did before the index (kept here as the reference)."""
    for selector in rule.get("clientSelectors") or []:
        on_header = [h for h in selector.get("headers") or [] if h["name"].lower() == header]
        exact = [h for h in on_header if h.get("type", "Exact") == "Exact"]
        regexes = [h for h in on_header if h.get("type") == "RegularExpression"]
        distinct = any(h.get("type") == "Distinct" for h in on_header)
        if any(h.get("value") == tenant for h in exact):
            return True
        if not exact and (regexes or distinct):
            try:
                if all(re.fullmatch(str(h.get("value", "")), tenant) for h in regexes):
                    return True
            except re.error:
                continue
    return False


def _header(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["Exact", None, "RegularExpression", "Distinct"])
    name = rng.choice(["x-tenant-id", "X-Tenant-Id", "x-other"])
    value = rng.choice(["a", "b", "team-.*", "(", "a|b", "c"])
    h: dict[str, Any] = {"name": name, "value": value}
    if kind:
        h["type"] = kind
    return h


def test_index_matches_the_walk_on_random_rules() -> None:
    rng = random.Random(7)
    tenants = ["a", "b", "c", "team-x", "("]
    for _ in range(400):
        rules = [
            {
                "clientSelectors": [
                    {"headers": [_header(rng) for _ in range(rng.randint(0, 3))]}
                    for _ in range(rng.randint(0, 3))
                ]
            }
            for _ in range(rng.randint(1, 3))
        ]
        index = TenantSelectors(rules, "x-tenant-id")
        for tenant in tenants:
            expected = any(_walk(r, "x-tenant-id", tenant) for r in rules)
            assert index.selects(tenant) is expected, (rules, tenant)
            assert any(selects_tenant(r, "x-tenant-id", tenant) for r in rules) is expected
