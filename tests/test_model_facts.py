"""Model facts: config.json parsing, safetensors headers, the HF cache offline, the resolver.

Everything runs offline: HF_HUB_OFFLINE=1, sockets refuse to connect, and the Hub tests
populate a throwaway HF cache in the hub layout so the real ``hf_hub_download`` resolves
files from it.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import huggingface_hub
import pytest
from huggingface_hub import constants as hf_constants

from tgi_infra.capacity import model_facts as mf
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.model_facts import (
    ModelFactsError,
    catalog_facts,
    catalog_model_ids,
    facts_from_config,
    facts_from_hub,
    facts_from_local_dir,
    facts_from_model_spec,
    read_safetensors_header,
    resolve_model_facts,
    summarize_safetensors,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "U8": 1, "I8": 1}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No network: HF_HUB_OFFLINE=1, no token, sockets refuse to connect."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("network access in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    mf.clear_model_facts_cache()
    yield
    mf.clear_model_facts_cache()


# ----------------------------------------------------------------------------- fixtures


def write_safetensors(
    path: Path, tensors: Mapping[str, tuple[str, list[int]]], metadata: dict[str, str] | None = None
) -> int:
    """Write a real safetensors file by hand; return the bytes of tensor data."""
    header: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = DTYPE_SIZE[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return offset


def llama_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
        "torch_dtype": "bfloat16",
    }
    config.update(overrides)
    return config


def facts(config: Mapping[str, Any], weight_bytes: int = 1000) -> ModelFacts:
    return facts_from_config(config, model_id="org/model", source="hub", weight_bytes=weight_bytes)


def populate_hub_cache(
    cache_dir: Path,
    repo_id: str,
    files: Mapping[str, bytes],
    *,
    ref: str | None = "main",
    commit: str = COMMIT,
) -> Path:
    """Lay out files as huggingface_hub's cache does: blobs, snapshots/<sha>, refs/<ref>."""
    repo = cache_dir / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../..") / "blobs" / blob.name)
    if ref is not None:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


def index_json(total_size: int | None, shards: list[str]) -> bytes:
    doc: dict[str, Any] = {"weight_map": {f"w{i}": s for i, s in enumerate(shards)}}
    if total_size is not None:
        doc["metadata"] = {"total_size": total_size}
    return json.dumps(doc).encode()


# ----------------------------------------------------------------------------- config.json


def test_tie_word_embeddings_from_config_or_the_family_default() -> None:
    assert facts(llama_config(tie_word_embeddings=True)).tie_word_embeddings
    assert not facts(llama_config(tie_word_embeddings=False)).tie_word_embeddings
    assert not facts(llama_config()).tie_word_embeddings  # LlamaConfig's default
    gemma = llama_config(model_type="gemma", architectures=["GemmaForCausalLM"])
    assert facts(gemma).tie_word_embeddings  # GemmaConfig defaults to True
    assert not facts({**gemma, "tie_word_embeddings": False}).tie_word_embeddings


def test_grouped_query_attention() -> None:
    f = facts(llama_config())
    assert (f.num_layers, f.hidden_size, f.num_attention_heads) == (32, 4096, 32)
    assert (f.num_kv_heads, f.head_dim) == (8, 128)
    assert (f.vocab_size, f.max_position_embeddings) == (128256, 131072)
    assert f.architecture == "LlamaForCausalLM"
    assert f.torch_dtype == "bfloat16"
    assert f.intermediate_size == 14336
    assert f.source == "hub" and f.weight_bytes == 1000
    assert f.num_experts is None and f.checkpoint_quantization is None
    assert not f.trust_remote_code


def test_kv_heads_default_to_attention_heads() -> None:
    config = llama_config()
    del config["num_key_value_heads"]
    assert facts(config).num_kv_heads == 32
    assert facts(llama_config(num_key_value_heads=None)).num_kv_heads == 32


def test_more_heads_than_hidden_units_is_refused_by_name() -> None:
    # found by probing `capacity` with junk config.json files: head_dim came out 0
    with pytest.raises(ModelFactsError, match=r"hidden size 4096 over 8192 attention heads "
                       r"leaves no head dimension"):  # fmt: skip
        facts(llama_config(num_attention_heads=8192))
    assert facts(llama_config(num_attention_heads=8192, head_dim=128)).head_dim == 128


@pytest.mark.parametrize("key", ["num_attention_heads", "intermediate_size", "vocab_size"])
def test_sizes_beyond_any_model_are_refused_by_name(key: str) -> None:
    # 1e300 is an integral float: it used to overflow the float arithmetic downstream
    with pytest.raises(ModelFactsError, match=rf"{key} is 1000000\d+, above 1099511627776"):
        facts(llama_config(**{key: 1e300, "head_dim": 128}))


def test_model_spec_sizes_beyond_any_model_are_refused() -> None:
    spec = {"numLayers": 2**70, "hiddenSize": 4096, "numAttentionHeads": 32,
            "vocabSize": 1000, "maxPositionEmbeddings": 4096, "weightBytes": 10**9}  # fmt: skip
    with pytest.raises(ModelFactsError, match="numLayers is 1180591620717411303424, above"):
        mf.facts_from_model_spec("org/spec", spec)


def test_explicit_head_dim_wins_over_hidden_over_heads() -> None:
    # Gemma 2 9B: 16 heads x 256 != 3584; Mistral-Nemo: 32 heads x 128 != 5120
    gemma2 = {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2",
              "hidden_size": 3584, "num_hidden_layers": 42, "num_attention_heads": 16,
              "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 256000,
              "max_position_embeddings": 8192, "torch_dtype": "bfloat16"}
    assert facts(gemma2).head_dim == 256
    nemo = llama_config(model_type="mistral", hidden_size=5120, num_hidden_layers=40,
                        head_dim=128, vocab_size=131072, max_position_embeddings=1024000)
    assert facts(nemo).head_dim == 128
    assert facts(llama_config(head_dim=None)).head_dim == 128


def test_text_config_llava_fills_gaps_from_llama_defaults() -> None:
    # llava-hf/llava-1.5-7b-hf: text_config stores only what differs from LlamaConfig
    config = {
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "text_config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                        "max_position_embeddings": 4096, "torch_dtype": "float16",
                        "vocab_size": 32064},
        "vision_config": {"hidden_size": 1024, "num_hidden_layers": 24,
                          "num_attention_heads": 16},
        "torch_dtype": "float16",
    }
    f = facts(config)
    assert f.architecture == "LlavaForConditionalGeneration"
    assert (f.num_layers, f.hidden_size, f.num_attention_heads, f.num_kv_heads) == (
        32, 4096, 32, 32)
    assert (f.vocab_size, f.max_position_embeddings, f.torch_dtype) == (32064, 4096, "float16")


def test_text_config_gemma3_uses_gemma3_text_defaults() -> None:
    # google/gemma-3-4b-it: the text config leaves heads, head_dim and vocab to defaults
    config = {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "model_type": "gemma3",
        "text_config": {"hidden_size": 2560, "intermediate_size": 10240,
                        "model_type": "gemma3_text", "num_hidden_layers": 34,
                        "sliding_window": 1024},
        "vision_config": {"hidden_size": 1152, "num_hidden_layers": 27,
                          "num_attention_heads": 16, "model_type": "siglip_vision_model"},
        "torch_dtype": "bfloat16",
    }
    f = facts(config)
    assert (f.num_layers, f.hidden_size) == (34, 2560)
    assert (f.num_attention_heads, f.num_kv_heads, f.head_dim) == (8, 4, 256)
    assert (f.vocab_size, f.max_position_embeddings) == (262208, 131072)
    assert f.intermediate_size == 10240


def test_text_config_mllama_is_read_not_the_vision_tower() -> None:
    config = {
        "architectures": ["MllamaForConditionalGeneration"],
        "model_type": "mllama",
        "text_config": {"model_type": "mllama_text_model", "hidden_size": 4096,
                        "num_hidden_layers": 40, "num_attention_heads": 32,
                        "num_key_value_heads": 8, "vocab_size": 128256,
                        "max_position_embeddings": 131072, "torch_dtype": "bfloat16"},
        "vision_config": {"hidden_size": 1280, "num_hidden_layers": 32,
                          "attention_heads": 16, "max_num_tiles": 4},
    }
    f = facts(config)
    assert (f.num_layers, f.num_kv_heads, f.head_dim, f.vocab_size) == (40, 8, 128, 128256)


def test_qwen2_vl_with_text_fields_at_top_level() -> None:
    config = {"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl",
              "hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28,
              "num_key_value_heads": 4, "vocab_size": 152064,
              "max_position_embeddings": 32768, "torch_dtype": "bfloat16",
              "vision_config": {"depth": 32, "embed_dim": 1280, "num_heads": 16,
                                "hidden_size": 3584}}
    f = facts(config)
    assert (f.num_layers, f.num_kv_heads, f.head_dim) == (28, 4, 128)


def test_falcon_multi_query_has_one_kv_head_and_a_default_context() -> None:
    falcon7b = {"architectures": ["FalconForCausalLM"], "model_type": "falcon",
                "hidden_size": 4544, "num_attention_heads": 71, "num_hidden_layers": 32,
                "multi_query": True, "new_decoder_architecture": False, "vocab_size": 65024,
                "torch_dtype": "bfloat16"}
    f = facts(falcon7b)
    assert (f.num_kv_heads, f.head_dim, f.max_position_embeddings) == (1, 64, 2048)
    falcon40b = {**falcon7b, "hidden_size": 8192, "num_attention_heads": 128,
                 "num_hidden_layers": 60, "new_decoder_architecture": True,
                 "num_kv_heads": 8}
    assert facts(falcon40b).num_kv_heads == 8


def test_gpt2_and_starcoder_names() -> None:
    gpt2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 768,
            "n_head": 12, "n_layer": 12, "n_positions": 1024, "n_ctx": 1024,
            "vocab_size": 50257}
    f = facts(gpt2)
    assert (f.num_layers, f.hidden_size, f.num_attention_heads, f.num_kv_heads) == (
        12, 768, 12, 12)
    assert (f.head_dim, f.max_position_embeddings) == (64, 1024)
    assert f.torch_dtype == "bfloat16"  # no dtype in the config: the default
    starcoder = {"architectures": ["GPTBigCodeForCausalLM"], "model_type": "gpt_bigcode",
                 "n_embd": 6144, "n_head": 48, "n_layer": 40, "n_positions": 8192,
                 "multi_query": True, "vocab_size": 49152, "torch_dtype": "float32"}
    s = facts(starcoder)
    assert (s.num_kv_heads, s.head_dim, s.max_position_embeddings) == (1, 128, 8192)
    assert s.torch_dtype == "float32"


def test_bloom_names() -> None:
    bloom = {"architectures": ["BloomForCausalLM"], "model_type": "bloom", "n_embed": 1024,
             "n_head": 16, "n_layer": 24, "vocab_size": 250880}
    f = facts(bloom)
    assert (f.hidden_size, f.num_layers, f.num_attention_heads) == (1024, 24, 16)
    assert f.max_position_embeddings == 2048


def test_mixture_of_experts_counts() -> None:
    mixtral = llama_config(architectures=["MixtralForCausalLM"], model_type="mixtral",
                           num_local_experts=8, num_experts_per_tok=2, vocab_size=32000)
    assert facts(mixtral).num_experts == 8
    assert facts(mixtral).intermediate_size == 14336
    qwen_moe = llama_config(architectures=["Qwen2MoeForCausalLM"], model_type="qwen2_moe",
                            num_experts=60, intermediate_size=5632, moe_intermediate_size=1408)
    assert facts(qwen_moe).num_experts == 60
    assert facts(qwen_moe).intermediate_size == 1408  # per expert
    dense = llama_config(num_experts=None, num_local_experts=1)
    assert facts(dense).num_experts is None
    dbrx = llama_config(model_type="dbrx", ffn_config={"moe_num_experts": 16,
                                                        "ffn_hidden_size": 10752})
    del dbrx["intermediate_size"]
    assert (facts(dbrx).num_experts, facts(dbrx).intermediate_size) == (16, 10752)


def test_deepseek_mla_is_cached_by_tgi_as_full_heads() -> None:
    # deepseek-ai/DeepSeek-V2-Lite: TGI stores K/V for 16 heads of max(128+64, 128) = 192
    config = {"architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2",
              "hidden_size": 2048, "num_hidden_layers": 27, "num_attention_heads": 16,
              "num_key_value_heads": 16, "kv_lora_rank": 512, "q_lora_rank": None,
              "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
              "n_routed_experts": 64, "moe_intermediate_size": 1408,
              "intermediate_size": 10944, "vocab_size": 102400,
              "max_position_embeddings": 163840, "torch_dtype": "bfloat16",
              "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV2Config"}}
    f = facts(config)
    assert (f.num_kv_heads, f.head_dim) == (16, 192)
    assert (f.num_experts, f.intermediate_size) == (64, 1408)
    assert not f.trust_remote_code  # TGI implements deepseek_v2 natively


@pytest.mark.parametrize(
    ("quantization_config", "expected"),
    [
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"}, "awq"),
        ({"quant_method": "GPTQ", "bits": 4}, "gptq"),
        ({"quant_method": "fp8", "activation_scheme": "dynamic"}, "fp8"),
        ({"quant_method": "compressed-tensors", "config_groups": {}}, "compressed-tensors"),
        ({"load_in_4bit": True}, "bitsandbytes"),
        (None, None),
    ],
)
def test_quantization_config(quantization_config: Any, expected: str | None) -> None:
    assert facts(llama_config(quantization_config=quantization_config)).checkpoint_quantization \
        == expected


def test_auto_map_means_trust_remote_code_unless_the_type_is_native() -> None:
    custom = llama_config(model_type="my_arch", architectures=["MyArchForCausalLM"],
                          auto_map={"AutoModelForCausalLM": "modeling_my.MyArchForCausalLM"})
    assert facts(custom).trust_remote_code
    phi3 = llama_config(model_type="phi3", auto_map={"AutoConfig": "configuration_phi3.Phi3Config"})
    assert not facts(phi3).trust_remote_code
    assert not facts(llama_config()).trust_remote_code


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("torch_dtype", "torch.float16", "float16"), ("dtype", "bfloat16", "bfloat16"),
     ("torch_dtype", "float32", "float32"), ("torch_dtype", "auto", "bfloat16")],
)
def test_dtype_spellings(key: str, value: str, expected: str) -> None:
    config = llama_config()
    del config["torch_dtype"]
    config[key] = value
    assert facts(config).torch_dtype == expected


def test_context_length_alternatives() -> None:
    config = llama_config()
    del config["max_position_embeddings"]
    assert facts({**config, "max_sequence_length": 4096}).max_position_embeddings == 4096
    assert facts({**config, "seq_length": 8192}).max_position_embeddings == 8192
    assert facts({**config, "max_seq_len": 2048}).max_position_embeddings == 2048


def test_missing_field_names_the_key_and_the_modelspec_fix() -> None:
    config = llama_config(model_type="my_arch")
    del config["num_hidden_layers"]
    with pytest.raises(ModelFactsError) as info:
        facts(config)
    message = str(info.value)
    assert "org/model" in message and "num_hidden_layers" in message
    assert "numLayers" in message and "modelSpec" in message
    assert "\n" not in message
    assert info.value.fallback_ok is False


def test_unknown_weight_size_is_an_error() -> None:
    with pytest.raises(ModelFactsError, match="weightBytes"):
        facts(llama_config(), weight_bytes=0)


# ----------------------------------------------------------------------------- safetensors


def test_safetensors_header_written_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    data = write_safetensors(path, {"embed": ("BF16", [10, 4]), "norm": ("F32", [4]),
                                    "qweight": ("I32", [4, 2])}, metadata={"format": "pt"})
    assert data == 10 * 4 * 2 + 4 * 4 + 4 * 2 * 4
    header = read_safetensors_header(path)
    assert header["embed"]["shape"] == [10, 4]
    summary = summarize_safetensors(path)
    assert summary.tensor_count == 3
    assert summary.tensor_bytes == data
    assert summary.bytes_by_dtype == {"BF16": 80, "F32": 16, "I32": 32}
    assert summary.metadata == {"format": "pt"}


def test_safetensors_without_data_offsets_uses_shape_and_dtype(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    raw = json.dumps({"a": {"dtype": "F16", "shape": [3, 5]}}).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 30)
    assert summarize_safetensors(path).tensor_bytes == 30


def test_git_lfs_pointer_is_named(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(ModelFactsError, match="Git LFS pointer"):
        summarize_safetensors(path)


@pytest.mark.parametrize("content", [b"", b"\x01\x02", struct.pack("<Q", 50) + b"{}",
                                     struct.pack("<Q", 4) + b"[1] "])
def test_corrupt_safetensors_is_a_model_facts_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFactsError, match=r"bad\.safetensors"):
        summarize_safetensors(path)


# ----------------------------------------------------------------------------- local dir


def test_local_dir_with_index_total_size(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(llama_config()))
    (tmp_path / "model.safetensors.index.json").write_bytes(
        index_json(16060522496, ["model-00001-of-00004.safetensors"]))
    f = facts_from_local_dir(tmp_path)
    assert f.source == "local" and f.model_id == str(tmp_path)
    assert f.weight_bytes == 16060522496
    assert f.revision is None


def test_local_dir_sums_safetensors_headers(tmp_path: Path) -> None:
    config = llama_config()
    del config["torch_dtype"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    a = write_safetensors(tmp_path / "model-00001-of-00002.safetensors",
                          {"a": ("F16", [64, 64]), "b": ("F16", [64])})
    b = write_safetensors(tmp_path / "model-00002-of-00002.safetensors",
                          {"c": ("F16", [128, 32]), "scale": ("F32", [8])})
    # Mistral repos ship the same weights again as consolidated.safetensors: not counted.
    write_safetensors(tmp_path / "consolidated.safetensors", {"all": ("F16", [1000])})
    f = facts_from_local_dir(tmp_path)
    assert f.weight_bytes == a + b
    assert f.torch_dtype == "float16"  # learnt from the headers, the config had none


def test_local_dir_index_without_total_size_reads_the_shards(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(llama_config()))
    shards = ["s1.safetensors", "s2.safetensors"]
    size = sum(write_safetensors(tmp_path / s, {"t": ("BF16", [16, 16])}) for s in shards)
    (tmp_path / "model.safetensors.index.json").write_bytes(index_json(None, shards))
    assert facts_from_local_dir(tmp_path).weight_bytes == size


def test_local_dir_legacy_gptq_quantize_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(llama_config()))
    (tmp_path / "quantize_config.json").write_text(json.dumps({"bits": 4, "group_size": 128}))
    write_safetensors(tmp_path / "model.safetensors", {"qweight": ("I32", [8, 8])})
    assert facts_from_local_dir(tmp_path).checkpoint_quantization == "gptq"


@pytest.mark.parametrize(
    ("name", "settings", "expected"),
    [
        ("quantize_config.json", {"bits": 4, "group_size": 128, "desc_act": False}, "gptq"),
        ("quantize_config.json", {"w_bit": 4, "q_group_size": 128, "zero_point": True}, "awq"),
        ("quant_config.json", {"w_bit": 4, "q_group_size": 128, "zero_point": True}, "awq"),
        # nvidia/Llama-3.1-8B-Instruct-FP8 ships its ModelOpt settings only here
        ("hf_quant_config.json", {"producer": {"name": "modelopt", "version": "0.15.0"},
                                  "quantization": {"quant_algo": "FP8",
                                                   "kv_cache_quant_algo": None}}, "modelopt"),
    ],
)
def test_local_dir_sidecar_quantization_files(tmp_path: Path, name: str,
                                              settings: dict[str, Any], expected: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps(llama_config()))
    (tmp_path / name).write_text(json.dumps(settings))
    write_safetensors(tmp_path / "model.safetensors", {"qweight": ("I32", [8, 8])})
    assert facts_from_local_dir(tmp_path).checkpoint_quantization == expected


def test_config_json_quantization_wins_over_a_sidecar(tmp_path: Path) -> None:
    config = llama_config(quantization_config={"quant_method": "fp8"})
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "quantize_config.json").write_text(json.dumps({"bits": 4}))
    write_safetensors(tmp_path / "model.safetensors", {"w": ("BF16", [8, 8])})
    assert facts_from_local_dir(tmp_path).checkpoint_quantization == "fp8"


def test_compression_config_is_compressed_tensors() -> None:
    # Older llm-compressor exports (e.g. neuralmagic/*-FP8 of mid-2024) use this key.
    config = llama_config()
    config["compression_config"] = {"config_groups": {}, "format": "float-quantized"}
    assert facts(config).checkpoint_quantization == "compressed-tensors"


def test_local_dir_without_config_or_weights(tmp_path: Path) -> None:
    with pytest.raises(ModelFactsError, match=r"config\.json"):
        facts_from_local_dir(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(llama_config()))
    with pytest.raises(ModelFactsError, match="no safetensors weights"):
        facts_from_local_dir(tmp_path)
    with pytest.raises(ModelFactsError, match="not a model directory"):
        facts_from_local_dir(tmp_path / "nope")


def test_local_dir_with_broken_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelFactsError, match="not valid JSON"):
        facts_from_local_dir(tmp_path)


# ----------------------------------------------------------------------------- Hub, offline


def test_hub_offline_reads_config_and_index_from_the_hf_cache(tmp_path: Path) -> None:
    populate_hub_cache(tmp_path, "acme/llama-8b", {
        "config.json": json.dumps(llama_config()).encode(),
        "model.safetensors.index.json": index_json(16060522496, ["model-00001.safetensors"]),
    })
    f = facts_from_hub("acme/llama-8b", revision="main", cache_dir=tmp_path)
    assert f.source == "hub" and f.model_id == "acme/llama-8b" and f.revision == "main"
    assert (f.num_layers, f.num_kv_heads, f.weight_bytes) == (32, 8, 16060522496)
    assert f.license is None and f.gated is None  # model_info needs the network
    assert f.fallback_reason is None


def test_hub_offline_reads_a_cached_sidecar_quantization_file(tmp_path: Path) -> None:
    populate_hub_cache(tmp_path, "acme/old-awq", {
        "config.json": json.dumps(llama_config()).encode(),
        "quant_config.json": json.dumps({"w_bit": 4, "zero_point": True}).encode(),
        "model.safetensors.index.json": index_json(5_000_000_000, ["a.safetensors"]),
    })
    f = facts_from_hub("acme/old-awq", revision="main", cache_dir=tmp_path)
    assert f.checkpoint_quantization == "awq"


def test_hub_offline_by_commit_sha_needs_no_ref(tmp_path: Path) -> None:
    populate_hub_cache(tmp_path, "acme/pinned", {
        "config.json": json.dumps(llama_config(num_hidden_layers=16)).encode(),
        "model.safetensors.index.json": index_json(123456, ["a.safetensors"]),
    }, ref=None)
    f = facts_from_hub("acme/pinned", revision=COMMIT, cache_dir=tmp_path)
    assert (f.num_layers, f.weight_bytes, f.revision) == (16, 123456, COMMIT)


def test_hub_offline_single_safetensors_file_is_read_from_its_header(tmp_path: Path) -> None:
    weights = tmp_path / "w.safetensors"
    size = write_safetensors(weights, {"embed": ("BF16", [32, 16]), "lm": ("BF16", [16, 32])})
    cache = tmp_path / "cache"
    populate_hub_cache(cache, "acme/small", {
        "config.json": json.dumps(llama_config(hidden_size=16, num_attention_heads=2,
                                               num_key_value_heads=1)).encode(),
        "model.safetensors": weights.read_bytes(),
    })
    f = facts_from_hub("acme/small", revision="main", cache_dir=cache)
    assert f.weight_bytes == size
    assert f.head_dim == 8


def test_hub_offline_catalog_model_gets_license_and_gating_from_the_catalog(
    tmp_path: Path,
) -> None:
    populate_hub_cache(tmp_path, "meta-llama/Llama-3.1-8B-Instruct", {
        "config.json": json.dumps(llama_config()).encode(),
        "model.safetensors.index.json": index_json(16060522496, ["m.safetensors"]),
    })
    f = facts_from_hub("meta-llama/Llama-3.1-8B-Instruct", revision="main", cache_dir=tmp_path)
    assert f.source == "hub"
    assert (f.license, f.gated) == ("llama3.1", "manual")


def test_hub_offline_config_without_weights_is_an_error(tmp_path: Path) -> None:
    populate_hub_cache(tmp_path, "acme/noweights", {
        "config.json": json.dumps(llama_config()).encode()})
    with pytest.raises(ModelFactsError) as info:
        facts_from_hub("acme/noweights", revision="main", cache_dir=tmp_path)
    message = str(info.value)
    assert "acme/noweights" in message and "'main'" in message
    assert "weight size is unknown offline" in message and "weightBytes" in message


def test_hub_offline_uncached_model_is_a_one_line_error(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ModelFactsError) as info:
        facts_from_hub("acme/absent", revision="v1.0", cache_dir=tmp_path)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert "acme/absent" in message and "'v1.0'" in message
    assert "HF_HUB_OFFLINE" in message and str(tmp_path) in message
    assert "modelSpec" in message and "hf download acme/absent" in message
    assert info.value.fallback_ok


def test_hub_offline_follows_the_environment(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE=1 is set by the autouse fixture; offline=None must honour it and never
    # try the network (the socket guard would turn that into a different error).
    with pytest.raises(ModelFactsError, match="offline"):
        facts_from_hub("acme/absent", revision="main", cache_dir=tmp_path, offline=None)


# ----------------------------------------------------------------------------- Hub, online
# The network itself is never touched: HfApi.model_info, HfApi.get_safetensors_metadata and
# hf_hub_download are replaced by a fake Hub that serves files from memory.


class FakeHub:
    def __init__(self, tmp_path: Path, files: Mapping[str, bytes], *, license: str = "mit",
                 license_name: str | None = None, gated: bool | str = False) -> None:
        self.dir = tmp_path / "fake-hub"
        self.dir.mkdir(exist_ok=True)
        self.files = dict(files)
        self.card: dict[str, Any] = {"license": license}
        if license_name:
            self.card["license_name"] = license_name
        self.gated = gated
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.info_error: BaseException | None = None
        self.download_error: BaseException | None = None
        self.safetensors: Any = None

    def model_info(self, repo_id: str, **kwargs: Any) -> Any:
        from huggingface_hub import ModelCardData

        self.calls.append(("model_info", {"repo_id": repo_id, **kwargs}))
        if self.info_error is not None:
            raise self.info_error
        return SimpleNamespace(card_data=ModelCardData(**self.card),
                               tags=[f"license:{self.card['license']}"], gated=self.gated,
                               siblings=[SimpleNamespace(rfilename=n) for n in self.files])

    def download(self, repo_id: str, filename: str, **kwargs: Any) -> str:
        self.calls.append(("download", {"repo_id": repo_id, "filename": filename, **kwargs}))
        if self.download_error is not None:
            raise self.download_error
        if kwargs.get("local_files_only"):
            raise huggingface_hub.errors.LocalEntryNotFoundError("not in the cache")
        if filename not in self.files:
            raise _http_error(huggingface_hub.errors.RemoteEntryNotFoundError, 404)
        path = self.dir / filename
        path.write_bytes(self.files[filename])
        return str(path)

    def get_safetensors_metadata(self, repo_id: str, **kwargs: Any) -> Any:
        self.calls.append(("get_safetensors_metadata", {"repo_id": repo_id, **kwargs}))
        if self.safetensors is None:
            raise huggingface_hub.errors.NotASafetensorsRepoError("no safetensors")
        return self.safetensors


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    hub = FakeHub(tmp_path, {
        "config.json": json.dumps(llama_config()).encode(),
        "model.safetensors.index.json": index_json(16060522496, ["m.safetensors"]),
    })
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", hub.model_info)
    monkeypatch.setattr(huggingface_hub.HfApi, "get_safetensors_metadata",
                        hub.get_safetensors_metadata)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.download)
    return hub


def _http_error(cls: type[Exception], status: int) -> Exception:
    import httpx2

    response = httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/x"))
    return cls(f"{status} error", response=response)  # type: ignore[call-arg]


def test_hub_online_reads_config_index_and_card(fake_hub: FakeHub) -> None:
    fake_hub.card = {"license": "other", "license_name": "qwen"}
    fake_hub.gated = "manual"
    f = facts_from_hub("acme/model", revision=COMMIT, offline=False)
    assert (f.source, f.revision, f.weight_bytes) == ("hub", COMMIT, 16060522496)
    assert (f.license, f.gated) == ("qwen", "manual")
    kinds = [kind for kind, _ in fake_hub.calls]
    assert kinds == ["model_info", "download", "download"]  # model_info first: fails fast
    for _, kwargs in fake_hub.calls:
        assert kwargs["revision"] == COMMIT
    download = fake_hub.calls[1][1]
    assert download["local_files_only"] is False
    assert download["etag_timeout"] == mf.HUB_REQUEST_TIMEOUT_S
    assert fake_hub.calls[0][1]["timeout"] == mf.HUB_REQUEST_TIMEOUT_S


def test_hub_online_single_file_uses_safetensors_metadata(fake_hub: FakeHub) -> None:
    from huggingface_hub.utils import SafetensorsFileMetadata, SafetensorsRepoMetadata, TensorInfo

    del fake_hub.files["model.safetensors.index.json"]
    tensors = {"embed": TensorInfo(dtype="BF16", shape=[100, 8], data_offsets=(0, 1600)),
               "norm": TensorInfo(dtype="F32", shape=[8], data_offsets=(1600, 1632))}
    fake_hub.safetensors = SafetensorsRepoMetadata(
        metadata=None, sharded=False, weight_map=dict.fromkeys(tensors, "model.safetensors"),
        files_metadata={"model.safetensors": SafetensorsFileMetadata(metadata={},
                                                                     tensors=tensors)})
    f = facts_from_hub("acme/model", revision="main", offline=False)
    assert f.weight_bytes == 1632
    assert ("get_safetensors_metadata" in [k for k, _ in fake_hub.calls])


def test_hub_online_without_safetensors_is_not_hidden(fake_hub: FakeHub) -> None:
    del fake_hub.files["model.safetensors.index.json"]
    with pytest.raises(ModelFactsError) as info:
        facts_from_hub("acme/model", revision="main", offline=False)
    assert "no safetensors weights" in str(info.value)
    assert info.value.fallback_ok is False


@pytest.mark.parametrize(
    ("make_error", "expected", "fallback_ok"),
    [
        (lambda: _http_error(huggingface_hub.errors.GatedRepoError, 403),
         "gated", True),
        (lambda: _http_error(huggingface_hub.errors.RepositoryNotFoundError, 401),
         "not found on the Hub", True),
        (lambda: _http_error(huggingface_hub.errors.RevisionNotFoundError, 404),
         "revision does not exist", False),
        (lambda: _http_error(huggingface_hub.errors.HfHubHTTPError, 401),
         "rejected the token", True),
        (lambda: _http_error(huggingface_hub.errors.HfHubHTTPError, 403),
         "access denied (403)", True),
        (lambda: _http_error(huggingface_hub.errors.HfHubHTTPError, 429),
         "rate limited", True),
        (lambda: _http_error(huggingface_hub.errors.HfHubHTTPError, 503),
         "HTTP 503", True),
        (lambda: ConnectionRefusedError(111, "Connection refused"),
         "could not be reached", True),
        (lambda: TimeoutError("read timed out"), "no answer from the Hub", True),
        (lambda: huggingface_hub.errors.HFValidationError("bad repo id"),
         "not a valid Hub repo id", False),
    ],
)
def test_hub_failures_become_clear_model_facts_errors(
    fake_hub: FakeHub, make_error: Any, expected: str, fallback_ok: bool
) -> None:
    fake_hub.info_error = make_error()
    with pytest.raises(ModelFactsError) as info:
        facts_from_hub("acme/model", revision="main", offline=False)
    message = str(info.value)
    assert expected in message
    assert message.startswith("model 'acme/model' at revision 'main': ")
    assert "\n" not in message and "Traceback" not in message
    assert info.value.fallback_ok is fallback_ok


@pytest.mark.parametrize(
    ("make_error", "expected"),
    [
        (lambda: _http_error(huggingface_hub.errors.RemoteEntryNotFoundError, 404),
         "no config.json"),
        (lambda: huggingface_hub.errors.LocalEntryNotFoundError("connection dropped"),
         "could not be reached and nothing is cached"),
        (lambda: _http_error(huggingface_hub.errors.GatedRepoError, 403), "gated"),
    ],
)
def test_download_failures_after_model_info(
    fake_hub: FakeHub, make_error: Any, expected: str
) -> None:
    fake_hub.download_error = make_error()
    with pytest.raises(ModelFactsError, match=expected):
        facts_from_hub("acme/model", revision="main", offline=False)


def test_gated_error_says_how_to_get_access(fake_hub: FakeHub) -> None:
    fake_hub.info_error = _http_error(huggingface_hub.errors.GatedRepoError, 403)
    with pytest.raises(ModelFactsError) as info:
        facts_from_hub("acme/model", revision="main", offline=False)
    assert "request access on https://huggingface.co/acme/model" in str(info.value)
    assert "HF_TOKEN" in str(info.value)


def test_hub_never_hangs(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*_args: Any, **_kwargs: Any) -> Any:
        time.sleep(3)
        return None

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", slow)
    start = time.monotonic()
    with pytest.raises(ModelFactsError, match="no answer from the Hub"):
        facts_from_hub("acme/model", revision="main", offline=False, timeout_s=0.2)
    assert time.monotonic() - start < 2


def test_token_comes_from_the_argument_or_hf_token(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    facts_from_hub("acme/model", revision="main", offline=False)
    assert {kw["token"] for _, kw in fake_hub.calls} == {"hf_from_env"}
    fake_hub.calls.clear()
    facts_from_hub("acme/model", revision="main", offline=False, token="hf_argument")
    assert {kw["token"] for _, kw in fake_hub.calls} == {"hf_argument"}


def test_offline_never_calls_model_info(fake_hub: FakeHub) -> None:
    with pytest.raises(ModelFactsError, match="offline"):
        facts_from_hub("acme/model", revision="main")  # HF_HUB_OFFLINE=1 from the fixture
    assert [kind for kind, _ in fake_hub.calls] == ["download"]
    assert fake_hub.calls[0][1]["local_files_only"] is True


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift HF_HUB_OFFLINE for a test whose Hub is the fake one (sockets stay refused)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)


@pytest.mark.usefixtures("online")
def test_resolver_uses_the_hub_when_online(fake_hub: FakeHub) -> None:
    f = resolve_model_facts("Qwen/Qwen2.5-7B-Instruct", revision="main", model_spec=None,
                            offline=False, token=None)
    assert f.source == "hub" and f.fallback_reason is None and f.license == "mit"


def test_resolver_honours_hf_hub_offline_even_when_told_online(fake_hub: FakeHub) -> None:
    f = resolve_model_facts("Qwen/Qwen2.5-7B-Instruct", revision="main", model_spec=None,
                            offline=False, token=None)
    assert f.source == "catalog"
    assert "model_info" not in [kind for kind, _ in fake_hub.calls]


@pytest.mark.usefixtures("online")
def test_resolver_falls_back_when_the_hub_is_unreachable(fake_hub: FakeHub) -> None:
    fake_hub.info_error = ConnectionRefusedError(111, "Connection refused")
    f = resolve_model_facts("Qwen/Qwen2.5-7B-Instruct", revision="main", model_spec=None,
                            offline=False, token=None)
    assert f.source == "catalog" and f.fallback_reason is not None
    assert "could not be reached" in f.fallback_reason


@pytest.mark.usefixtures("online")
def test_resolver_falls_back_when_gated_without_access(fake_hub: FakeHub) -> None:
    fake_hub.info_error = _http_error(huggingface_hub.errors.GatedRepoError, 403)
    f = resolve_model_facts("meta-llama/Llama-3.3-70B-Instruct", revision="main",
                            model_spec=None, offline=False, token=None)
    assert f.source == "catalog" and f.gated == "manual"
    assert f.fallback_reason is not None and "gated" in f.fallback_reason


# ----------------------------------------------------------------------------- catalog


def test_catalog_has_the_common_models() -> None:
    ids = set(catalog_model_ids())
    for model_id in (
        "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct",
        "meta-llama/Llama-3.2-3B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
        "mistralai/Mistral-7B-Instruct-v0.3", "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-72B-Instruct",
        "Qwen/Qwen2.5-72B-Instruct-AWQ", "google/gemma-2-9b-it",
        "microsoft/Phi-3-mini-4k-instruct",
        "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
        "HuggingFaceTB/SmolLM2-1.7B-Instruct",
    ):
        assert model_id in ids


@pytest.mark.parametrize("model_id", catalog_model_ids())
def test_catalog_entries_are_consistent(model_id: str) -> None:
    f = catalog_facts(model_id)
    assert f is not None and f.source == "catalog" and f.model_id == model_id
    assert f.num_attention_heads % f.num_kv_heads == 0
    assert f.head_dim in (64, 96, 128, 256)
    assert f.weight_bytes > 10**9
    assert f.license and f.gated is not None
    doc = mf._catalog_doc()[model_id]
    assert doc["verified_from"]
    if f.checkpoint_quantization is None:
        # bf16 checkpoints: two bytes per parameter
        assert f.weight_bytes == 2 * doc["parameters"]


def test_catalog_numbers_that_matter() -> None:
    llama8b = catalog_facts("meta-llama/Llama-3.1-8B-Instruct")
    assert llama8b is not None and llama8b.weight_bytes == 16060522496
    mixtral = catalog_facts("mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert mixtral is not None and mixtral.num_experts == 8
    awq = catalog_facts("Qwen/Qwen2.5-72B-Instruct-AWQ")
    bf16 = catalog_facts("Qwen/Qwen2.5-72B-Instruct")
    assert awq is not None and bf16 is not None
    assert awq.checkpoint_quantization == "awq"
    assert 0.25 < awq.weight_bytes / bf16.weight_bytes < 0.32
    gemma = catalog_facts("google/gemma-2-9b-it")
    assert gemma is not None and gemma.head_dim * gemma.num_attention_heads != gemma.hidden_size


def test_catalog_lookup_ignores_case_and_knows_old_names() -> None:
    assert catalog_facts("META-LLAMA/llama-3.1-8b-instruct") is not None
    old = catalog_facts("meta-llama/Meta-Llama-3.1-8B-Instruct")
    assert old is not None and old.model_id == "meta-llama/Llama-3.1-8B-Instruct"
    assert catalog_facts("acme/unknown") is None


# ----------------------------------------------------------------------------- modelSpec


def test_model_spec_camel_case() -> None:
    f = facts_from_model_spec("private/model", {
        "numLayers": 40, "hiddenSize": 5120, "numAttentionHeads": 40, "numKvHeads": 8,
        "vocabSize": 32000, "maxPositionEmbeddings": 16384, "weightBytes": 26_000_000_000,
        "torchDtype": "float16", "numExperts": None,
    }, revision="abc")
    assert f.source == "modelSpec" and f.revision == "abc"
    assert (f.num_kv_heads, f.head_dim, f.torch_dtype, f.num_experts) == (8, 128, "float16", None)


def test_model_spec_snake_case_as_pydantic_dumps_it() -> None:
    f = facts_from_model_spec("private/model", {
        "architecture": "LlamaForCausalLM", "num_layers": 2, "hidden_size": 64,
        "num_attention_heads": 4, "num_kv_heads": 4, "head_dim": None, "vocab_size": 100,
        "max_position_embeddings": 512, "weight_bytes": 1000, "torch_dtype": "bfloat16",
        "checkpoint_quantization": None, "num_experts": None,
    })
    assert (f.head_dim, f.architecture) == (16, "LlamaForCausalLM")


@pytest.mark.parametrize(("given", "read"), [(" AWQ ", "awq"), ("GPTQ", "gptq"), ("", None)])
def test_model_spec_quantization_is_read_as_config_json_is(given: str, read: str | None) -> None:
    spec = {"numLayers": 2, "hiddenSize": 64, "numAttentionHeads": 4, "vocabSize": 100,
            "maxPositionEmbeddings": 512, "weightBytes": 1000, "checkpointQuantization": given}
    assert facts_from_model_spec("m", spec).checkpoint_quantization == read


def test_model_spec_errors_name_the_key() -> None:
    with pytest.raises(ModelFactsError, match=r"numLayer.*did you mean numLayers"):
        facts_from_model_spec("m", {"numLayer": 2})
    with pytest.raises(ModelFactsError, match=r"lacks .*weightBytes"):
        facts_from_model_spec("m", {"numLayers": 2, "hiddenSize": 64, "numAttentionHeads": 4,
                                    "vocabSize": 100, "maxPositionEmbeddings": 512})
    with pytest.raises(ModelFactsError, match="hiddenSize must be a positive integer"):
        facts_from_model_spec("m", {"numLayers": 2, "hiddenSize": -1, "numAttentionHeads": 4,
                                    "vocabSize": 100, "maxPositionEmbeddings": 512,
                                    "weightBytes": 1})


# ----------------------------------------------------------------------------- resolver

SPEC = {"numLayers": 2, "hiddenSize": 64, "numAttentionHeads": 4, "vocabSize": 100,
        "maxPositionEmbeddings": 512, "weightBytes": 1000}


def test_resolver_prefers_the_model_spec(tmp_path: Path) -> None:
    f = resolve_model_facts("meta-llama/Llama-3.1-8B-Instruct", revision="main",
                            model_spec=SPEC, offline=True, token=None, cache_dir=tmp_path)
    assert f.source == "modelSpec" and f.num_layers == 2


def test_resolver_reads_a_local_directory(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(llama_config()))
    write_safetensors(model / "model.safetensors", {"w": ("BF16", [8, 8])})
    f = resolve_model_facts(str(model), revision=None, model_spec=None, offline=True,
                            token=None)
    assert f.source == "local" and f.weight_bytes == 128


def test_resolver_reports_a_missing_local_path() -> None:
    with pytest.raises(ModelFactsError, match="not a directory"):
        resolve_model_facts("/models/absent", revision=None, model_spec=None, offline=True,
                            token=None)


def test_resolver_uses_the_hf_cache_before_the_catalog(tmp_path: Path) -> None:
    populate_hub_cache(tmp_path, "meta-llama/Llama-3.1-8B-Instruct", {
        "config.json": json.dumps(llama_config(num_hidden_layers=31)).encode(),
        "model.safetensors.index.json": index_json(42_000, ["m.safetensors"]),
    })
    f = resolve_model_facts("meta-llama/Llama-3.1-8B-Instruct", revision="main",
                            model_spec=None, offline=True, token=None, cache_dir=tmp_path)
    assert (f.source, f.num_layers, f.weight_bytes) == ("hub", 31, 42_000)


def test_resolver_falls_back_to_the_catalog_with_the_reason(tmp_path: Path) -> None:
    f = resolve_model_facts("meta-llama/Llama-3.1-8B-Instruct", revision="main",
                            model_spec=None, offline=True, token=None, cache_dir=tmp_path)
    assert f.source == "catalog"
    assert f.weight_bytes == 16060522496
    assert f.revision == "main"
    assert f.fallback_reason is not None
    assert "offline" in f.fallback_reason and "config.json is not in the HF cache" in (
        f.fallback_reason)


def test_resolver_error_when_neither_hub_nor_catalog_knows(tmp_path: Path) -> None:
    with pytest.raises(ModelFactsError) as info:
        resolve_model_facts("acme/private-model", revision="main", model_spec=None,
                            offline=True, token=None, cache_dir=tmp_path)
    message = str(info.value)
    assert "acme/private-model" in message and "not in the shipped model catalog" in message
    assert "modelSpec" in message and "\n" not in message


def test_resolver_does_not_hide_a_wrong_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong_revision(*_args: Any, **_kwargs: Any) -> ModelFacts:
        raise ModelFactsError("model 'x' at revision 'nope': the revision does not exist",
                              fallback_ok=False)

    monkeypatch.setattr(mf, "facts_from_hub", wrong_revision)
    with pytest.raises(ModelFactsError, match="revision does not exist"):
        resolve_model_facts("meta-llama/Llama-3.1-8B-Instruct", revision="nope",
                            model_spec=None, offline=False, token=None)


def test_resolver_caches_per_model_and_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str | None] = []
    real = mf.facts_from_hub

    def counting(model_id: str, **kwargs: Any) -> ModelFacts:
        calls.append(kwargs.get("revision"))
        return real(model_id, **kwargs)

    monkeypatch.setattr(mf, "facts_from_hub", counting)
    args: dict[str, Any] = {"model_spec": None, "offline": True, "token": None,
                            "cache_dir": tmp_path}
    first = resolve_model_facts("mistralai/Mistral-7B-Instruct-v0.3", revision="main", **args)
    again = resolve_model_facts("mistralai/Mistral-7B-Instruct-v0.3", revision="main", **args)
    other = resolve_model_facts("mistralai/Mistral-7B-Instruct-v0.3", revision=COMMIT, **args)
    assert first is again and other.revision == COMMIT
    assert calls == ["main", COMMIT]
    with pytest.raises(ModelFactsError):
        resolve_model_facts("acme/x", revision="main", **args)
    with pytest.raises(ModelFactsError):
        resolve_model_facts("acme/x", revision="main", **args)
    assert calls == ["main", COMMIT, "main"]  # errors are cached too
    mf.clear_model_facts_cache()
    resolve_model_facts("mistralai/Mistral-7B-Instruct-v0.3", revision="main", **args)
    assert len(calls) == 4


def test_hub_online_asks_only_for_sidecar_files_the_repo_lists(fake_hub: FakeHub) -> None:
    facts_from_hub("acme/model", revision="main", offline=False)
    asked = {kw["filename"] for kind, kw in fake_hub.calls if kind == "download"}
    assert asked == {"config.json", "model.safetensors.index.json"}
    fake_hub.calls.clear()
    fake_hub.files["quantize_config.json"] = json.dumps({"bits": 4, "sym": True}).encode()
    f = facts_from_hub("acme/model", revision="main", offline=False)
    assert f.checkpoint_quantization == "gptq"
    asked = [kw["filename"] for kind, kw in fake_hub.calls if kind == "download"]
    assert asked == ["config.json", "quantize_config.json", "model.safetensors.index.json"]


def test_quantization_settings_and_where_they_were_read(tmp_path: Path) -> None:
    gptq = {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True,
            "desc_act": False, "checkpoint_format": "gptq"}  # fmt: skip
    f = facts(llama_config(quantization_config=gptq))
    assert (f.quantization_file, f.quant_bits, f.quant_group_size, f.quant_sym,
            f.quant_desc_act, f.quant_zero_point) == ("config.json", 4, 128, True, False, None)
    assert facts(llama_config()).quantization_file is None
    (tmp_path / "config.json").write_text(json.dumps(llama_config()))
    (tmp_path / "quant_config.json").write_text(json.dumps(
        {"w_bit": 4, "q_group_size": 128, "zero_point": True, "version": "GEMM"}))
    write_safetensors(tmp_path / "model.safetensors", {"qweight": ("I32", [8, 8])})
    local = facts_from_local_dir(tmp_path)
    assert (local.checkpoint_quantization, local.quantization_file) == ("awq", "quant_config.json")
    assert (local.quant_bits, local.quant_group_size, local.quant_zero_point) == (4, 128, True)


@pytest.mark.parametrize(("algo", "method"), [("FP8", "modelopt"), ("NVFP4", "modelopt_fp4"),
                                              ("MIXED_PRECISION", "modelopt_mixed")])
def test_modelopt_sidecar_methods_as_vllm_names_them(tmp_path: Path, algo: str,
                                                     method: str) -> None:  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(llama_config()))
    (tmp_path / "hf_quant_config.json").write_text(json.dumps(
        {"producer": {"name": "modelopt"}, "quantization": {"quant_algo": algo}}))
    write_safetensors(tmp_path / "model.safetensors", {"w": ("BF16", [8, 8])})
    f = facts_from_local_dir(tmp_path)
    assert (f.checkpoint_quantization, f.quantization_file) == (method, "hf_quant_config.json")
