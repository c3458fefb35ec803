"""compressed-tensors schemes: read from config.json into the facts, judged by TGI 3.3.7's
loader (engines/tgi/compressed_tensors.py) and by SGLang 0.5.23's compute-capability floor.

Public checkpoints' quantization_config blocks and the source lines the rules mirror are in
tests/fixtures/engines/tgi_compressed_tensors.yaml.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.hf_config import facts_from_config
from tgi_infra.capacity.weights import facts_from_local_dir
from tgi_infra.checks.inputs import checkpoint_problems
from tgi_infra.engines.tgi import compressed_tensors as tgi_ct
from tgi_infra.engines.tgi import quantization as tgi_q

FIXTURE = Path(__file__).parent / "fixtures" / "engines" / "tgi_compressed_tensors.yaml"
SOURCES = {
    "tgi": Path("/work/.mirror/huggingface+text-generation-inference/repo"),
    "ct": Path("/work/engine-src/ct-0.9.1"),
    "sglang": Path("/work/engine-src/sglang-0.5.23"),
    "vllm": Path("/work/engine-src/vllm-0.34.0"),
}
DOC = yaml.safe_load(FIXTURE.read_text())
CASES = {case["name"]: case for case in DOC["cases"]}
LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "vocab_size": 128256, "max_position_embeddings": 131072, "torch_dtype": "bfloat16",
}  # fmt: skip


def model(quant: dict[str, Any] | None, name: str = "org/m-ct") -> ModelFacts:
    config = dict(LLAMA, quantization_config=quant) if quant is not None else dict(LLAMA)
    return facts_from_config(config, model_id=name, weight_bytes=5 * 2**30, source="local")


def with_group(base: str, **changes: Any) -> dict[str, Any]:
    """A fixture case's config with `changes` merged into group_0 (dotted keys go deeper)."""
    quant = copy.deepcopy(CASES[base]["config"])
    group = quant["config_groups"]["group_0"]
    for key, value in changes.items():
        where, _, leaf = key.rpartition("__")
        (group[where] if where else group)[leaf] = value
    return quant


def verdict(quant: dict[str, Any]) -> tgi_ct.Verdict:
    scheme = model(quant).compressed_tensors
    assert scheme is not None
    return tgi_ct.judge(scheme)


# ---------------------------------------------------------------- reading the facts


def test_the_scheme_is_read_from_config_json() -> None:
    facts = model(CASES["qwen3-vl-w8a16-group32"]["config"])
    scheme = facts.compressed_tensors
    assert facts.checkpoint_quantization == "compressed-tensors" and scheme is not None
    assert (scheme.format, scheme.status) == ("pack-quantized", "compressed")
    (group,) = scheme.groups
    assert group.targets == ("Linear",) and group.format == "pack-quantized"
    assert group.weights is not None and group.input_activations is None
    assert (group.weights.num_bits, group.weights.group_size, group.weights.strategy) == (
        8, 32, "group"
    )  # fmt: skip
    assert "observer_kwargs" in group.weights.nonscalar  # kept as a repr: facts stay hashable
    hash(facts)
    assert "int8 group group 32" in scheme.describe()


def test_other_quant_methods_and_16_bit_models_carry_no_scheme() -> None:
    assert model(None).compressed_tensors is None
    gptq = {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True}
    assert model(gptq).compressed_tensors is None


def test_older_exports_under_compression_config_are_read_too() -> None:
    config = dict(LLAMA, compression_config=CASES["fp8-dynamic-channel"]["config"])
    facts = facts_from_config(config, model_id="org/old", weight_bytes=2**33, source="local")
    assert facts.compressed_tensors is not None and facts.compressed_tensors.format == (
        "float-quantized"
    )


def test_a_local_checkpoint_goes_through_huggingface_hub_loading(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps(dict(LLAMA, quantization_config=CASES["qwen3.5-nvfp4a16"]["config"]))
    )
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 5_000_000_000}, "weight_map": {}})
    )
    facts = facts_from_local_dir(tmp_path)
    assert facts.compressed_tensors is not None
    assert facts.compressed_tensors.groups[0].weights.strategy == "tensor_group"  # type: ignore[union-attr]


def test_model_spec_cannot_set_the_scheme() -> None:
    from tgi_infra.capacity.errors import ModelFactsError
    from tgi_infra.capacity.model_facts import facts_from_model_spec

    spec = {"numLayers": 2, "hiddenSize": 64, "numAttentionHeads": 2, "vocabSize": 100,
            "maxPositionEmbeddings": 512, "weightBytes": 10, "compressedTensors": {}}  # fmt: skip
    with pytest.raises(ModelFactsError, match="unknown key 'compressedTensors'"):
        facts_from_model_spec("org/spec", spec)


# ---------------------------------------------------------------- TGI 3.3.7's loader


@pytest.mark.parametrize("name", sorted(CASES))
def test_public_checkpoints_as_tgi_reads_them(name: str) -> None:
    case = CASES[name]
    found = verdict(case["config"])
    if case["tgi"].startswith("ok "):
        assert found.error is None, found.error
        assert found.kernels == frozenset(case["tgi"].split()[1:])
    else:
        assert found.error is not None and found.error.startswith(case["tgi"]), found.error


@pytest.mark.parametrize(
    ("quant", "start"),
    [
        # pack-quantized int4 at group size 16: Marlin repacks only -1/32/64/128
        (with_group("qwen3-vl-w8a16-group32", weights__num_bits=4, weights__group_size=16),
         "Repacking GPTQ weights with group size 16 as Marlin is not supported"),
        (with_group("qwen3-vl-w8a16-group32", weights__num_bits=2),
         "Group 'group_0' has unsupported compressed-tensors configurtion"),
        # the group's own format is not read: TGI's compressed-tensors 0.9.1 has no such field
        ({**CASES["qwen3-vl-w8a16-group32"]["config"], "format": "mixed-precision"},
         "Group 'group_0' has unsupported"),
        ({**CASES["fp8-dynamic-channel"]["config"], "format": "pack-quantized"},
         "Group 'group_0' has unsupported"),
        ({k: v for k, v in CASES["fp8-dynamic-channel"]["config"].items() if k != "format"},
         "Group 'group_0' has unsupported compressed-tensors configurtion (format fakequant"),
        ({**CASES["fp8-dynamic-channel"]["config"], "quantization_status": "initialized"},
         "Model quantization was not finished, status was: initialized"),
        ({k: v for k, v in CASES["fp8-dynamic-channel"]["config"].items()
          if k != "quantization_status"},
         "Model quantization was not finished, status was: initialized (not stated)"),
        ({**CASES["fp8-dynamic-channel"]["config"], "quantization_status": "Compressed"},
         "Cannot parse compressed-tensors configuration (quantization_status 'Compressed'"),
        ({"quant_method": "compressed-tensors", "format": "pack-quantized",
          "quantization_status": "compressed"},
         "Cannot parse compressed-tensors configuration (config_groups is missing"),
        ({"quant_method": "compressed-tensors", "format": "pack-quantized",
          "quantization_status": "compressed", "config_groups": {}},
         "Cannot find compressed-tensors target for prefix"),
        (with_group("qwen3-vl-w8a16-group32", weights__strategy="channel"),
         "Cannot parse compressed-tensors configuration (config_groups.group_0.weights: "
         "group_size 32 requires strategy group"),
        (with_group("qwen3-vl-w8a16-group32", weights__actorder="sometimes"),
         "Cannot parse compressed-tensors configuration (config_groups.group_0.weights.actorder"),
        (with_group("fp8-dynamic-channel", input_activations__actorder="group"),
         "Cannot parse compressed-tensors configuration (config_groups.group_0.input_"
         "activations: actorder needs strategy group"),
        (with_group("fp8-dynamic-channel", weights__dynamic=True),
         "Cannot parse compressed-tensors configuration (config_groups.group_0.weights: "
         "dynamic quantization needs strategy token or tensor"),
        (with_group("fp8-dynamic-channel", weights__symmetric=None),
         "Cannot parse compressed-tensors configuration (config_groups.group_0.weights."
         "symmetric None is not a boolean"),
        (with_group("fp8-dynamic-channel", weights__group_size=-2),
         "Cannot parse compressed-tensors configuration (config_groups.group_0.weights."
         "group_size -2 is below -1"),
        (with_group("fp8-dynamic-channel", targets="Linear"),
         "Cannot parse compressed-tensors configuration (config_groups.group_0.targets"),
        ({"quant_method": "compressed-tensors", "format": "int-quantized",
          "quantization_status": "compressed",
          "config_groups": {"group_0": {"targets": ["Linear"],
                                        "weights": {"num_bits": 8, "type": "int",
                                                    "strategy": "channel", "symmetric": False},
                                        "input_activations": {"num_bits": 8, "type": "int",
                                                              "strategy": "token",
                                                              "dynamic": True}}}},
         "Checkpoints with asymmetric weights are not supported"),
        ({"quant_method": "compressed-tensors", "format": "marlin-24",
          "quantization_status": "compressed",
          "config_groups": {"group_0": {"targets": ["Linear"],
                                        "weights": {"num_bits": 4, "type": "int",
                                                    "group_size": 64, "strategy": "group"}}}},
         "Group size 64 is not supported, must be one of: -1, 128"),
        ({"quant_method": "compressed-tensors", "format": "pack-quantized",
          "quantization_status": "compressed", "config_groups": {"W4A4": ["Linear"]}},
         "Unknown preset scheme name W4A4"),
        ({"quant_method": "compressed-tensors", "format": "pack-quantized",
          "quantization_status": "compressed",
          "config_groups": {"UNQUANTIZED": ["Linear"]}},
         "Group 'UNQUANTIZED' has unsupported"),
        ({"quant_method": "compressed-tensors", "format": "pack-quantized",
          "quantization_status": "compressed",
          "config_groups": {"group_0": {"targets": ["Linear"],
                                        "weights": {"num_bits": 4, "group_size": 128}},
                            "group_1": {"targets": ["Linear"],
                                        "weights": {"num_bits": 8, "group_size": 128}}}},
         "Target 'Linear has multiple configured loaders'"),
    ],
)  # fmt: skip
def test_tgi_refuses_what_its_loader_refuses(quant: dict[str, Any], start: str) -> None:
    found = verdict(quant)
    assert found.error is not None and found.error.startswith(start), found.error


@pytest.mark.parametrize(
    ("quant", "kernels"),
    [
        ({"quant_method": "compressed-tensors", "format": "pack-quantized",
          "quantization_status": "compressed", "config_groups": {"w4a16": ["Linear"]}},
         {"marlin"}),  # a preset (case-insensitive) in a list of targets
        ({"quant_method": "compressed-tensors", "format": "int-quantized",
          "quantization_status": "frozen", "config_groups": {"W8A8": ["Linear"]}},
         {"int8"}),
        ({"quant_method": "compressed-tensors", "format": "naive-quantized",
          "quantization_status": "compressed", "config_groups": {"FP8": ["Linear"]}},
         {"fp8"}),
        (with_group("qwen3-vl-w8a16-group32", weights__actorder="dynamic",
                    weights__num_bits="4", weights__symmetric="true"), {"marlin"}),
        (with_group("qwen3-vl-w8a16-group32", weights__group_size=-1, weights__strategy=None),
         {"marlin"}),  # -1 infers channel
    ],
)  # fmt: skip
def test_tgi_loads_what_its_loader_loads(quant: dict[str, Any], kernels: set[str]) -> None:
    assert verdict(quant) == tgi_ct.Verdict(None, frozenset(kernels))


# ---------------------------------------------------------------- the checks, per engine


def tier(quantize: str | None = None) -> Any:
    from tgi_infra.config.models import TierConfig

    return TierConfig(name="t", model_id="org/m-ct", node_pool="gpu", engine="tgi",
                      quantize=quantize, max_input_tokens=4095, max_total_tokens=4096)  # fmt: skip


def test_the_tgi_scheme_check_names_the_scheme_the_error_and_a_fix() -> None:
    facts = model(CASES["qwen3.5-nvfp4a16"]["config"])
    (problem,) = tgi_q.check_scheme(tier(), facts)
    assert problem.check == tgi_q.SCHEME_CHECK and problem.severity == "error"
    assert problem.path == "tiers[t].quantize"
    assert "strategy 'tensor_group' is not one of compressed-tensors 0.9.1's" in problem.message
    assert "format nvfp4-pack-quantized" in problem.message and "vllm" in problem.fix
    assert tgi_q.check_scheme(tier("compressed-tensors"), facts) == [problem]
    # fp8 on a compressed-tensors checkpoint reads it through the fp8 loader, not this one
    assert tgi_q.check_scheme(tier("fp8"), facts) == []
    assert tgi_q.check_scheme(tier(), model(CASES["fp8-dynamic-channel"]["config"])) == []


@pytest.mark.parametrize(
    ("case", "card", "expect"),
    [
        ("qwen3-vl-w8a16-group32", "T4", "Using quantized Marlin models requires"),
        ("fp8-dynamic-channel", "T4", "torch._scaled_mm is only supported"),
        ("qwen3-vl-w8a16-group32", "A10G", None),
        ("fp8-dynamic-channel", "L4", None),
    ],
)
def test_tgi_gpu_check_follows_the_scheme_kernels(case: str, card: str, expect: str | None) -> None:
    facts = model(CASES[case]["config"])
    found = checkpoint_problems("tgi", facts, None, gpu(card))
    gpu_problems = [p for p in found if p.check == tgi_q.GPU_CHECK]
    if expect is None:
        assert found == []
    else:
        (problem,) = gpu_problems
        assert problem.severity == "error" and expect in problem.message


def test_tgi_w8a8_int8_runs_on_a_t4_and_an_unread_scheme_only_warns() -> None:
    w8a8 = {"quant_method": "compressed-tensors", "format": "int-quantized",
            "quantization_status": "compressed", "config_groups": {"W8A8": ["Linear"]}}  # fmt: skip
    assert checkpoint_problems("tgi", model(w8a8), None, gpu("T4")) == []
    catalog_like = ModelFacts(
        "org/ct", "catalog", "LlamaForCausalLM", 32, 4096, 32, 8, 128, 128256, 131072,
        5 * 2**30, checkpoint_quantization="compressed-tensors",
    )  # fmt: skip
    (warning,) = checkpoint_problems("tgi", catalog_like, None, gpu("T4"))
    assert warning.severity == "warning" and warning.check == tgi_q.GPU_CHECK


def test_an_unloadable_scheme_is_reported_once_not_again_for_the_gpu() -> None:
    facts = model(CASES["qwen3.5-nvfp4a16"]["config"])
    found = checkpoint_problems("tgi", facts, None, gpu("T4"))
    assert [p.check for p in found] == [tgi_q.SCHEME_CHECK]


@pytest.mark.parametrize(("card", "refused"), [("T4", True), ("A10G", False), ("H100-80GB", False)])
def test_sglang_needs_compute_8_for_compressed_tensors(card: str, refused: bool) -> None:
    for case in ("qwen3-vl-w8a16-group32", "fp8-dynamic-channel"):
        found = checkpoint_problems("sglang", model(CASES[case]["config"]), None, gpu(card))
        if refused:
            (problem,) = found
            assert problem.check == "sglang-quantization-gpu"
            assert "Min capability: 80. Current capability: 75" in problem.message
        else:
            assert found == []


def test_vllm_runs_compressed_tensors_on_a_t4() -> None:
    # vLLM 0.34.0's schemes need 7.5 (WNA16, W8A8 int8, W8A16 FP8, NVFP4 ...), W4A8-FP8 9.0
    # but that one is chosen only on 9.0.
    facts = model(CASES["qwen3-vl-w8a16-group32"]["config"])
    assert checkpoint_problems("vllm", facts, None, gpu("T4")) == []


# ---------------------------------------------------------------- the quoted sources


def test_the_fixture_names_its_sources() -> None:
    assert DOC["commit"] == "dfb3fbe78e0d1d69251bd33065591c61bafdfaa8"
    texts = "\n".join(q["text"] for q in DOC["quotes"])
    assert f'version = "{tgi_ct.CT_VERSION}"' in texts
    assert "GPTQ_MARLIN_GROUP_SIZES = [-1, 32, 64, 128]" in texts
    assert str(list(tgi_ct.MARLIN_GROUP_SIZES)).replace(" ", "") in texts.replace(" ", "")
    assert all(case["source"] for case in DOC["cases"])


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_quotes_match_the_sources_when_they_are_here(source: str) -> None:
    root = SOURCES[source]
    if not root.exists():
        pytest.skip(f"{root} ({source} source; see the fixture's header) not on this machine")
    for quote in (q for q in DOC["quotes"] if q["source"] == source):
        if source == "tgi":
            text = subprocess.run(
                ["git", "--git-dir", str(root), "show", f"{DOC['commit']}:{quote['file']}"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
        else:
            text = (root / quote["file"]).read_text()
        line = text.splitlines()[quote["line"] - 1]
        assert str(quote["text"]) in line, (quote["file"], quote["line"], line)


# ---------------------------------------------------------------- malformed configs


def _junk(rng: Any, depth: int = 0) -> Any:
    """A random JSON value, biased towards the keys and values a scheme uses."""
    pick = rng.randrange(12 if depth < 3 else 8)
    scalars = [None, True, False, 0, -1, -2, 4, 8, 16, 128, 4.0, 4.5, float("nan"), "",
               "int", "float", "INT", "group", "tensor_group", "channel", "token", "block",
               "local", "4", "true", "weight", "pack-quantized", "float-quantized",
               "compressed", "frozen", "W4A16", "Linear", "{{ .Values }}",
               "$(HF_TOKEN)"]  # fmt: skip
    if pick < 8:
        return rng.choice(scalars)
    if pick < 10:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(3))]
    keys = ["num_bits", "type", "symmetric", "group_size", "strategy", "dynamic", "actorder",
            "block_structure", "targets", "weights", "input_activations", "format",
            "output_activations", "W8A8", "group_0"]  # fmt: skip
    return {rng.choice(keys): _junk(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_malformed_schemes_never_crash_the_reading_or_the_checks() -> None:
    import random

    rng = random.Random(13)
    outcomes = {"loads": 0, "refused": 0}
    for _ in range(1500):
        quant: dict[str, Any] = {"quant_method": "compressed-tensors"}
        if rng.random() < 0.5:  # a public scheme with one value swapped for junk
            quant = copy.deepcopy(rng.choice(DOC["cases"])["config"])
            group = quant["config_groups"]["group_0"]
            part = rng.choice([quant, group, group.get("weights") or group])
            part[rng.choice([*part, "observer"])] = _junk(rng)
        else:
            for key in ("format", "quantization_status", "config_groups"):
                if rng.random() < 0.8:
                    quant[key] = _junk(rng)
            if rng.random() < 0.5:
                quant["config_groups"] = {"group_0": _junk(rng), "g1": _junk(rng)}
        facts = model(quant)
        hash(facts)
        for engine in ("tgi", "vllm", "sglang"):
            for card in ("T4", "A10G"):
                for problem in checkpoint_problems(engine, facts, None, gpu(card)):
                    assert problem.message and problem.fix
        if facts.compressed_tensors is None:  # the junk replaced quant_method itself
            assert facts.checkpoint_quantization != "compressed-tensors"
            continue
        found = tgi_ct.judge(facts.compressed_tensors)
        assert found.error is None or isinstance(found.error, str)
        outcomes["loads" if found.error is None else "refused"] += 1
        facts.compressed_tensors.describe()
    assert outcomes["refused"] > 750 and outcomes["loads"] > 50, outcomes


# ---------------------------------------------------------------- --quantize fp8 on one


@pytest.mark.parametrize(
    ("case", "severity", "start"),
    [
        ("fp8-dynamic-channel", None, None),  # float8 `.weight` + weight_scale: loads
        ("qwen3-vl-w8a16-group32", "error", "weight <prefix>.weight does not exist"),
        ("qwen3.5-nvfp4a16", "error", "weight <prefix>.weight does not exist"),
    ],
)
def test_quantize_fp8_on_a_compressed_tensors_checkpoint_follows_its_format(
    case: str, severity: str | None, start: str | None
) -> None:
    found = tgi_q.check_quantize(tier("fp8"), model(CASES[case]["config"]))
    if severity is None:
        assert found == []
    else:
        (problem,) = found
        assert problem.severity == severity and start in problem.message


def test_quantize_fp8_on_int8_weights_is_an_error_and_unread_schemes_stay_a_warning() -> None:
    w8a8 = {"quant_method": "compressed-tensors", "format": "int-quantized",
            "quantization_status": "compressed", "config_groups": {"W8A8": ["Linear"]}}  # fmt: skip
    (problem,) = tgi_q.check_quantize(tier("fp8"), model(w8a8))
    assert problem.severity == "error" and "without their weight_scale" in problem.message
    mixed = {**w8a8, "format": "mixed-precision"}
    (problem,) = tgi_q.check_quantize(tier("fp8"), model(mixed))
    assert problem.severity == "warning" and "FP8 schemes load" in problem.message


# ---------------------------------------------------------------- sparsity_config

# The shape of llm-compressor's 2:4 sparse FP8 exports (e.g. Sparse-Llama-3.1-8B-2of4-FP8):
# compressed-tensors' Sparse24BitMaskCompressor stores <prefix>.shape, .compressed, .bitmask.
SPARSE_FP8 = {
    **CASES["fp8-dynamic-channel"]["config"],
    "sparsity_config": {"format": "sparse-24-bitmask", "global_sparsity": 0.45,
                        "ignore": ["lm_head"], "registry_requires_subclass": False,
                        "sparsity_structure": "2:4", "targets": ["Linear"]},
}  # fmt: skip
DENSE_SPARSE_FP8 = {
    **SPARSE_FP8, "sparsity_config": {**SPARSE_FP8["sparsity_config"], "format": "dense"}
}


def test_sparsity_config_is_read_and_compressed_storage_told_apart() -> None:
    scheme = model(SPARSE_FP8).compressed_tensors
    assert scheme is not None and scheme.sparsity_targets == ("Linear",)
    assert scheme.sparse_weights_compressed and "sparsity 2:4" in scheme.describe()
    dense = model(DENSE_SPARSE_FP8).compressed_tensors
    assert dense is not None and not dense.sparse_weights_compressed
    empty = model({**SPARSE_FP8, "sparsity_config": {}}).compressed_tensors
    assert empty is not None and empty.sparsity_targets == ()


def test_each_engine_on_a_2_4_sparse_checkpoint() -> None:
    facts = model(SPARSE_FP8)
    (tgi,) = checkpoint_problems("tgi", facts, None, gpu("H100-80GB"))
    assert tgi.check == tgi_q.SCHEME_CHECK
    assert "weight <prefix>.weight does not exist" in tgi.message
    (vllm,) = checkpoint_problems("vllm", facts, None, gpu("H100-80GB"))
    assert "Sparsity support has been removed from compressed-tensors" in vllm.message
    (sglang,) = checkpoint_problems("sglang", facts, None, gpu("H100-80GB"))
    assert "CompressedTensors24 is not supported now" in sglang.message
    # stored dense, TGI reads the weights as they are (it never reads sparsity_config)
    dense = model(DENSE_SPARSE_FP8)
    assert checkpoint_problems("tgi", dense, None, gpu("H100-80GB")) == []


def test_sglang_runs_int_weight_only_groups_only_pack_quantized() -> None:
    naive = with_group("qwen3-vl-w8a16-group32", format="naive-quantized")
    (problem,) = checkpoint_problems("sglang", model(naive), None, gpu("A10G"))
    assert "Other method (CompressedTensorsW4A16Sparse24) is not supported now" in problem.message
    assert checkpoint_problems("sglang", model(CASES["qwen3-vl-w8a16-group32"]["config"]), None,
                               gpu("A10G")) == []  # fmt: skip
