"""Stack text in a container's command, args and env reaches the engine as written: kubelet
expands `$(VAR)` there with the container's env, the HF token among them (escape.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import kubelet_expand, small_platform
from tests.test_manifests_serving import container, context
from tgi_infra.escape import kube_literal, kube_literal_container

ENV = {"HF_TOKEN": "hf_not_a_real_token", "HOME": "/tmp"}
TEXTS = ["m-$(HF_TOKEN)", "$(HOME)", "$$(HOME)", "price $5", "a$", "$", "$(", "$(unclosed",
         "exit $status", "${HOME}", "$$$", "no dollar"]  # fmt: skip


def test_kubelet_expansion_as_kubernetes_documents_it() -> None:
    assert kubelet_expand("$(HF_TOKEN)", ENV) == ENV["HF_TOKEN"]  # why escaping matters
    assert kubelet_expand("$$(HF_TOKEN)", ENV) == "$(HF_TOKEN)"
    assert kubelet_expand("$(UNDEFINED)", ENV) == "$(UNDEFINED)"
    assert kubelet_expand("$(", ENV) == "$(" and kubelet_expand("a$", ENV) == "a$"


@pytest.mark.parametrize("text", TEXTS)
def test_every_text_survives_expansion(text: str) -> None:
    assert kubelet_expand(kube_literal(text), ENV) == text


def test_a_container_is_escaped_in_command_args_and_literal_env_only() -> None:
    secret = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}}
    raw: dict[str, Any] = {
        "command": ["sh", "-c", "echo $(HOME)"], "args": ["--x", "$(HF_TOKEN)"],
        "env": [{"name": "A", "value": "$(HF_TOKEN)"}, secret],
    }  # fmt: skip
    out = kube_literal_container(raw)
    assert out["command"][2] == "echo $$(HOME)" and out["args"][1] == "$$(HF_TOKEN)"
    assert out["env"] == [{"name": "A", "value": "$$(HF_TOKEN)"}, secret]
    assert raw["args"][1] == "$(HF_TOKEN)"  # the input is not changed


@pytest.mark.parametrize("engine", ["vllm", "sglang"])  # TGI's container has no served name
def test_a_served_model_name_cannot_pull_the_token_into_the_engine(engine: str) -> None:
    cfg = small_platform(engine=engine, servedModelName="m-$(HF_TOKEN)")
    c = container(context(tier=cfg.tiers[0]))
    received = [kubelet_expand(a, ENV) for a in c.get("args", [])] + [
        kubelet_expand(e["value"], ENV) for e in c["env"] if "value" in e
    ]
    assert "m-$(HF_TOKEN)" in received  # the name, as the stack wrote it
    assert not any(ENV["HF_TOKEN"] in value for value in received)
