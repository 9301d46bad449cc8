import pytest

from shopper_pipelines.inventory.gpu_models import canonical_name, lookup, resolve_query, snap_vram


@pytest.mark.parametrize(
    "spelling",
    ["RTX 4090", "rtx_4090", "GeForce RTX 4090", "RTX4090", "geforcertx4090-pcie-24gb", "4090"],
)
def test_canonical_name_every_4090_spelling_is_one_model(spelling):
    assert canonical_name(spelling) == "RTX 4090"
    assert resolve_query(spelling) == ["RTX 4090"]


@pytest.mark.parametrize(
    ("spelling", "model"),
    [
        ("NVIDIA A100-SXM4-80GB", "A100 SXM4"),
        ("a100-pcie-80gb", "A100 PCIe"),
        ("h100-sxm5-80gb", "H100 SXM"),
        ("H100 80GB HBM3", "H100 SXM"),
        ("Tesla V100", "V100"),
        ("rtxa6000-pcie-48gb", "RTX A6000"),
        ("RTX 6000Ada", "RTX 6000 Ada"),
        ("RTX 4070S Ti", "RTX 4070 Ti Super"),
    ],
)
def test_canonical_name_provider_spellings(spelling, model):
    assert canonical_name(spelling) == model


def test_resolve_query_family_selects_form_factor_variants_only():
    assert set(resolve_query("A100")) == {"A100 PCIe", "A100 SXM4", "A100"}
    assert resolve_query("RTX 4090") == ["RTX 4090"]  # the 4090D is another card
    assert resolve_query("RTX 3090") == ["RTX 3090"]


def test_unknown_spelling_is_kept_tidied():
    assert lookup("Quantum QPU 9000") is None
    assert canonical_name("Quantum_QPU  9000") == "Quantum QPU 9000"
    assert resolve_query("Quantum_QPU 9000") == ["Quantum QPU 9000"]


def test_snap_vram_to_real_sizes_including_modded_cards():
    model = lookup("RTX 4090")
    assert snap_vram(model, 24564 / 1024) == 24.0
    assert snap_vram(model, 49140 / 1024) == 48.0
    assert snap_vram(None, 23.7) == 24.0
