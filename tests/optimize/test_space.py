"""What the recipe modules propose, from the sensitivity ranking and what the machine has."""
from __future__ import annotations

from edgebench.models.spec import ModelSpec
from edgebench.optimize.recipes import propose_all
from edgebench.optimize.space import SearchContext
from edgebench.quantize.base import QuantOptions

SPEC = ModelSpec(id="onnx:net.onnx", source="onnx", name="net.onnx")


def context(**changes) -> SearchContext:
    base = dict(spec=SPEC, runtimes=("onnxruntime", "openvino"), max_drop_pt=0.5,
                sensitive_nodes=tuple(f"n{i}" for i in range(10)), sensitive_weighted=("n2", "n5", "n7", "n9"),
                has_validation=True)
    return SearchContext(**{**base, **changes})


def test_mixed_variants_keep_the_most_sensitive_layers_in_float():
    by_name = {p.name: p for p in propose_all(context())}
    assert by_name["onnxruntime|int8|float3"].quant["exclude_nodes"] == ("n0", "n1", "n2")
    assert by_name["openvino|int8|float8"].quant["exclude_nodes"] == tuple(f"n{i}" for i in range(8))
    assert by_name["onnxruntime|int8|float-w3"].quant["exclude_nodes"] == ("n2", "n5", "n7")
    assert by_name["openvino|int8|ac0.5"].quant == {"nncf_accuracy_control": 0.5}


def test_without_sensitivity_or_labels_those_families_are_not_proposed():
    names = {p.name for p in propose_all(context(sensitive_nodes=(), sensitive_weighted=(), has_validation=False))}
    assert not any("float" in n or "|ac" in n for n in names)
    assert {"onnxruntime|int8|entropy", "openvino|int8|mixed", "onnxruntime|fp32|", "openvino|bf16|"} <= names


def test_baselines_and_defaults_come_first_and_every_variant_builds_valid_options():
    proposals = propose_all(context())
    kinds = [p.kind for p in proposals]
    assert kinds[:kinds.count("baseline")] == ["baseline"] * kinds.count("baseline")
    assert kinds.index("format") > kinds.index("mixed")
    for proposal in proposals:
        cell = proposal.cell(SPEC, 1, QuantOptions())
        assert cell.key.endswith(f"|{proposal.variant}") == bool(proposal.variant)
        if proposal.quant:
            assert cell.quant is not None and cell.quant != QuantOptions()


def test_only_the_runtimes_of_the_search_are_proposed():
    assert {p.runtime for p in propose_all(context(runtimes=("openvino",)))} == {"openvino"}
