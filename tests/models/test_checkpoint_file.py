"""--checkpoint files: refused up front with a clear message, and accepted when they are a state dict of
the model (the same check with a real timm model, so it can fail both ways)."""
import pytest

from edgebench.errors import ConfigError
from edgebench.models import resolve_model
from edgebench.models.torch_models import build_module, check_checkpoint_file, check_checkpoint_fits


def test_a_real_state_dict_passes_and_a_foreign_one_is_refused(tmp_path):
    import torch
    from safetensors.torch import save_file

    spec = resolve_model("timm:test_efficientnet")
    state = build_module(spec).state_dict()
    torch.save(state, tmp_path / "good.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "good.safetensors"))
    for name in ("good.pt", "good.safetensors"):
        check_checkpoint_file(tmp_path / name)
        check_checkpoint_fits(spec, tmp_path / name)
    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    check_checkpoint_file(tmp_path / "other.pt")  # a state dict, but not this model's
    with pytest.raises(ConfigError, match="does not fit timm:test_efficientnet"):
        check_checkpoint_fits(spec, tmp_path / "other.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="cut.pt"):
        check_checkpoint_file(tmp_path / "cut.pt")
