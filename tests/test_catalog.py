"""The hardware catalog: GPUs and AWS GPU instance types from the shipped YAML."""

from __future__ import annotations

import datetime as dt
from importlib.resources import files

import pytest
import yaml

from tgi_infra.capacity import catalog
from tgi_infra.capacity.catalog import (
    PRICES_READ,
    Gpu,
    InstanceType,
    UnknownHardwareError,
    gpu,
    gpus,
    instance_type,
    instance_types,
    instance_types_with,
)

BRIEF_GPUS = ["T4", "A10G", "L4", "L40S", "A100-40GB", "A100-80GB", "H100-80GB", "H200",
              "RTX-A6000"]
# issue 13 item 3: the GPUs users run that the catalog lacked.
ISSUE_13_GPUS = ["H200", "B200", "L40", "A40", "RTX-3090", "RTX-4090", "RTX-5090",
                 "RTX-6000-Ada"]


def _data(name: str) -> dict:
    return yaml.safe_load(files("tgi_infra.capacity").joinpath("data", name).read_text())


def test_data_files_are_package_resources() -> None:
    for name in ("gpus.yaml", "instances.yaml", "models.yaml"):
        assert files("tgi_infra.capacity").joinpath("data", name).is_file(), name


def test_every_expected_gpu_is_in_the_catalog() -> None:
    names = [g.name for g in gpus()]
    for name in BRIEF_GPUS:
        assert name in names
    assert len(names) == len(set(names))


@pytest.mark.parametrize("g", gpus(), ids=lambda g: g.name)
def test_gpu_rows_are_consistent(g: Gpu) -> None:
    # CUDA reports less than nvidia-smi (driver reservation), but not by more than ~3%.
    assert g.memory_mib < g.nvidia_smi_mib
    assert g.memory_mib > 0.97 * g.nvidia_smi_mib
    # ...and both sit near the nominal size (GB on the spec sheet).
    assert 0.90 * g.memory_gb * 1000**3 < g.nvidia_smi_mib * 2**20 < 1.10 * g.memory_gb * 2**30
    assert g.memory_bytes == g.memory_mib * 2**20
    assert g.fp8 == (g.architecture in ("ada", "hopper", "blackwell"))
    assert g.compute_capability_tuple >= (7, 5)
    assert g.memory_bandwidth_gbs > 0
    assert g.memory_source
    # issue 13: bandwidth and dense FLOP/s from a cited data sheet.
    assert g.datasheet_url.startswith("https://")
    assert 1e11 < g.memory_bandwidth_bytes_per_s < 1e13
    assert 1e13 < g.bf16_dense_flops < 1e16
    assert (g.fp8_dense_flops is not None) == g.fp8
    if g.fp8_dense_flops is not None:  # FP8 tensor cores run twice the 16-bit rate
        # (the L40S sheet's own figures, 362.05 and 733, are 1.2 % off that ratio)
        assert g.fp8_dense_flops == pytest.approx(2 * g.bf16_dense_flops, rel=0.02)
    assert g.torch_total_mib == g.memory_mib
    assert g.nvidia_smi_total_mib == g.nvidia_smi_mib
    assert 200 < g.driver_reserved_mib < 1000
    assert g.torch_total_bytes_for(g.nvidia_smi_mib) == g.memory_bytes


def test_issue_13_gpus_are_in_the_catalog() -> None:
    names = [g.name for g in gpus()]
    for name in ISSUE_13_GPUS:
        assert name in names


def test_data_sheet_figures() -> None:
    # Spot checks against the cited sheets (dense figures; sheets often print sparse ones).
    assert gpu("H100").bf16_dense_flops == 989e12 and gpu("H100").fp8_dense_flops == 1979e12
    assert gpu("H200").memory_bandwidth_bytes_per_s == 4.8e12
    assert gpu("B200").memory_bandwidth_bytes_per_s == 8e12
    assert gpu("B200").fp8_dense_flops == 4.5e15
    assert gpu("A100-80GB").bf16_dense_flops == 312e12 and gpu("A100-80GB").fp8_dense_flops is None
    assert gpu("L40S").fp8_dense_flops == 733e12
    assert gpu("RTX-4090").memory_bandwidth_gbs == 1008
    assert gpu("A40").memory_bandwidth_gbs == 696
    assert gpu("RTX-3090").nvidia_smi_mib == 24576 and gpu("RTX-5090").nvidia_smi_mib == 32607
    # A10G: nvidia-smi 23028 MiB, torch 22587 MiB, 441 MiB apart (issue 13).
    assert gpu("A10G").driver_reserved_mib == 441


def test_known_memory_figures() -> None:
    assert gpu("H100-80GB").nvidia_smi_mib == 81559
    assert gpu("A100-80GB").nvidia_smi_mib == 81920
    assert gpu("A100-40GB").nvidia_smi_mib == 40960
    assert gpu("A10G").nvidia_smi_mib == 23028
    assert gpu("L4").nvidia_smi_mib == 23034
    assert gpu("L40S").nvidia_smi_mib == 46068
    assert gpu("T4").nvidia_smi_mib == 15360
    assert gpu("H200").nvidia_smi_mib == 143771
    assert gpu("RTX-A6000").nvidia_smi_mib == 49140
    # what torch.cuda reports, e.g. _CudaDeviceProperties(name='Tesla T4', total_memory=15102MB)
    assert gpu("T4").memory_mib == 15102


def test_capabilities() -> None:
    assert not gpu("T4").bf16 and not gpu("T4").flash_attention
    assert gpu("A10G").bf16 and not gpu("A10G").fp8
    assert gpu("L4").fp8 and gpu("L40S").fp8 and gpu("H100").fp8 and gpu("H200").fp8
    assert not gpu("A100-80GB").fp8
    assert gpu("h100").compute_capability == "9.0"


def test_karpenter_gpu_names() -> None:
    expected = {"T4": "t4", "A10G": "a10g", "L4": "l4", "L40S": "l40s", "A100-40GB": "a100",
                "A100-80GB": "a100", "H100-80GB": "h100", "H200": "h200"}
    for name, label in expected.items():
        assert gpu(name).karpenter_gpu_name == label
    assert gpu("RTX-A6000").karpenter_gpu_name is None


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("h100", "H100-80GB"),
        ("H100", "H100-80GB"),
        ("H100-80GB", "H100-80GB"),
        ("h100-80gb", "H100-80GB"),
        ("NVIDIA H100 80GB HBM3", "H100-80GB"),
        ("a100-80gb", "A100-80GB"),
        ("A100_40GB", "A100-40GB"),
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("Tesla T4", "T4"),
        ("t4", "T4"),
        ("a10g", "A10G"),
        ("A10", "A10"),
        ("l40s", "L40S"),
        ("nvidia l4", "L4"),
        ("rtx a6000", "RTX-A6000"),
        ("A6000", "RTX-A6000"),
        ("h200", "H200"),
        ("b200", "B200"),
        ("NVIDIA B200", "B200"),
        ("l40", "L40"),
        ("NVIDIA L40", "L40"),
        ("a40", "A40"),
        ("rtx-3090", "RTX-3090"),
        ("NVIDIA GeForce RTX 3090", "RTX-3090"),
        ("rtx4090", "RTX-4090"),
        ("GeForce RTX 4090", "RTX-4090"),
        ("RTX 5090", "RTX-5090"),
        ("rtx-6000-ada", "RTX-6000-Ada"),
        ("NVIDIA RTX 6000 Ada Generation", "RTX-6000-Ada"),
    ],
)
def test_gpu_lookup_is_forgiving_about_spelling(spelling: str, name: str) -> None:
    assert gpu(spelling).name == name


def test_ambiguous_gpu_name_names_the_candidates() -> None:
    with pytest.raises(UnknownHardwareError) as info:
        gpu("a100")
    assert "A100-40GB" in str(info.value) and "A100-80GB" in str(info.value)
    assert info.value.suggestions == ("A100-40GB", "A100-80GB")


def test_unknown_gpu_is_a_key_error_with_close_matches() -> None:
    with pytest.raises(KeyError) as info:
        gpu("H1000")
    err = info.value
    assert isinstance(err, UnknownHardwareError)
    assert "H100-80GB" in err.suggestions
    message = str(err)
    assert message.startswith("unknown GPU 'H1000'")  # not wrapped in quotes like KeyError
    assert "did you mean" in message and "H100-80GB" in message


def test_unknown_gpu_without_close_match_lists_the_catalog() -> None:
    with pytest.raises(UnknownHardwareError) as info:
        gpu("mi300x")
    assert "known:" in str(info.value) and "T4" in str(info.value)


def test_instance_families_and_sizes_from_the_brief() -> None:
    names = {t.name for t in instance_types()}
    expected = (
        [f"g4dn.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge",
                               "16xlarge", "metal")]
        + [f"{fam}.{s}" for fam in ("g5", "g6", "g6e")
           for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
                     "24xlarge", "48xlarge")]
        + ["p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "p5e.48xlarge", "p5en.48xlarge"]
    )
    assert set(expected) <= names
    assert len(names) == len(instance_types())


@pytest.mark.parametrize("t", instance_types(), ids=lambda t: t.name)
def test_instance_rows_are_consistent(t: InstanceType) -> None:
    assert t.gpu in gpus()
    assert t.gpu_count in (1, 4, 8)
    assert t.vcpus >= 4 and t.memory_gib >= 16
    assert 0.1 < t.hourly_usd < 200
    assert t.hourly_usd_per_gpu == pytest.approx(t.hourly_usd / t.gpu_count)
    assert t.gpu_memory_bytes == t.gpu_count * t.gpu.memory_bytes
    assert t.local_nvme_gb is None or t.local_nvme_gb > 0
    assert t.family in t.name


@pytest.mark.parametrize(
    ("name", "gpu_name", "count"),
    [
        ("g4dn.xlarge", "T4", 1),
        ("g4dn.12xlarge", "T4", 4),
        ("g4dn.metal", "T4", 8),
        ("g5.xlarge", "A10G", 1),
        ("g5.12xlarge", "A10G", 4),
        ("g5.48xlarge", "A10G", 8),
        ("g6.12xlarge", "L4", 4),
        ("g6e.48xlarge", "L40S", 8),
        ("p4d.24xlarge", "A100-40GB", 8),
        ("p4de.24xlarge", "A100-80GB", 8),
        ("p5.48xlarge", "H100-80GB", 8),
        ("p5e.48xlarge", "H200", 8),
        ("p5en.48xlarge", "H200", 8),
        ("p6-b200.48xlarge", "B200", 8),
    ],
)
def test_instance_gpus(name: str, gpu_name: str, count: int) -> None:
    t = instance_type(name)
    assert (t.gpu.name, t.gpu_count) == (gpu_name, count)


def test_instance_lookup_ignores_case_and_whitespace() -> None:
    assert instance_type(" G6E.12XLARGE ").name == "g6e.12xlarge"


def test_prices_are_ordered_within_a_family() -> None:
    # Within a single-GPU family, bigger hosts cost more; the 4-GPU 12xlarge costs more
    # than any single-GPU size below 16xlarge.
    for fam in ("g5", "g6", "g6e"):
        singles = [instance_type(f"{fam}.{s}").hourly_usd
                   for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")]
        assert singles == sorted(singles)
        assert instance_type(f"{fam}.12xlarge").hourly_usd > singles[3]
        assert instance_type(f"{fam}.48xlarge").hourly_usd > instance_type(
            f"{fam}.24xlarge").hourly_usd
    # the L40S box is dearer than the L4 box, which is cheaper than the A10G box
    assert instance_type("g6e.xlarge").hourly_usd > instance_type("g5.xlarge").hourly_usd
    assert instance_type("g6.xlarge").hourly_usd < instance_type("g5.xlarge").hourly_usd


def test_unknown_instance_type_suggests_close_names() -> None:
    with pytest.raises(UnknownHardwareError) as info:
        instance_type("g5.13xlarge")
    assert "g5.12xlarge" in info.value.suggestions
    assert "did you mean" in str(info.value)


def test_non_gpu_instance_type_is_named_as_such() -> None:
    with pytest.raises(UnknownHardwareError) as info:
        instance_type("m5.large")
    assert "not a GPU instance type" in str(info.value)
    assert "g6e" in str(info.value)


def test_instance_types_with_a_gpu() -> None:
    l4 = instance_types_with("l4")
    assert l4 and all(t.family == "g6" for t in l4)
    assert {t.name for t in instance_types_with("H200")} == {"p5e.48xlarge", "p5en.48xlarge"}


def test_prices_read_and_source() -> None:
    doc = _data("instances.yaml")
    assert isinstance(PRICES_READ, dt.date)
    assert str(doc["prices_read"]) == PRICES_READ.isoformat()
    assert "us-east-1" in catalog.PRICES_SOURCE and "On-Demand" in catalog.PRICES_SOURCE
    assert catalog.PRICES_REGION == "us-east-1"


def test_estimated_prices_are_flagged() -> None:
    assert instance_type("p5.48xlarge").price_estimated
    assert not instance_type("g5.xlarge").price_estimated


def test_loaders_are_cached() -> None:
    assert gpus() is gpus()
    assert instance_types() is instance_types()
    assert instance_type("g5.xlarge") is instance_type("G5.XLARGE")


def test_unknown_names_are_quoted_bounded() -> None:
    from tgi_infra.capacity.catalog import UnknownHardwareError, gpu, instance_type

    for lookup in (gpu, instance_type):
        with pytest.raises(UnknownHardwareError) as info:
            lookup("x" * 3000)
        assert len(str(info.value)) < 1000
