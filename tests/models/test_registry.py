import pytest

from edgebench.errors import ConfigError
from edgebench.models import resolve_model, resolve_suite
from edgebench.reference import reference_rows


def test_seed_table_suite_follows_the_reference_order():
    specs = resolve_suite("seed-table")
    rows = reference_rows()
    assert len(specs) == len(rows) == 15
    for spec, row in zip(specs, rows):
        assert spec.reference["model"] == row["model"]
    nasnet = [s for s in specs if not s.available]
    assert [s.name for s in nasnet] == ["NASNetMobile"]
    assert "no implementation available" in nasnet[0].unavailable_reason
    assert specs[0].id == "timm:mobilenetv2_100"
    inception = next(s for s in specs if s.name == "inception_v3")
    assert inception.input_shape == (3, 299, 299)


def test_quick_suite_mixes_sources():
    specs = resolve_suite("quick")
    assert len(specs) == 3 and {s.source for s in specs} == {"timm", "torchvision"}


def test_torchvision_preprocessing_comes_from_its_weights():
    spec = resolve_model("torchvision:mobilenet_v3_small")
    assert spec.input_shape == (3, 224, 224)
    assert spec.preprocess.crop_pct == pytest.approx(224 / 256)
    assert spec.preprocess.interpolation == "bilinear"


@pytest.mark.parametrize("model_id, message", [
    ("timm:resnet5O", "Did you mean"),
    ("torchvision:resnet500", "Did you mean"),
    ("resnet50", "needs a source prefix"),
    ("hub:resnet50", "unknown model source"),
])
def test_unknown_models_are_clear_errors(model_id, message):
    with pytest.raises(ConfigError, match=message):
        resolve_model(model_id)


def test_unknown_suite():
    with pytest.raises(ConfigError, match="Did you mean: quick"):
        resolve_suite("quik")
