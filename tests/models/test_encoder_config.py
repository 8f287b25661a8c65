"""The encoder's arguments are declared once, in `EncoderConfig`, which the three models take."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

import videomae_ssl.models as models
from videomae_ssl.models import VideoMAEClassifier, VideoMAEEncoder, VideoMAEPretrainModel
from videomae_ssl.models.config import EncoderConfig

MODELS = Path(models.__file__).parent
ENCODER_ARGS = {f.name for f in dataclasses.fields(EncoderConfig)}
SMALL = EncoderConfig(img_size=32, patch_size=8, num_frames=4, embed_dim=48, depth=2, num_heads=4)
DECODER = dict(decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)


def constructor_arguments(path: Path) -> dict[str, set[str]]:
    """`Class.__init__` -> the argument names it lists, for every class in `path`."""
    out = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    a = item.args
                    out[node.name] = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    return out


@pytest.mark.parametrize(
    ("module", "cls"),
    [("encoder.py", "VideoMAEEncoder"), ("pretrain.py", "VideoMAEPretrainModel"),
     ("classifier.py", "VideoMAEClassifier")],
)  # fmt: skip
def test_the_constructors_do_not_list_the_encoder_arguments(module, cls):
    names = constructor_arguments(MODELS / module)[cls]
    assert not names & ENCODER_ARGS, f"{module}: {cls}.__init__ lists {sorted(names & ENCODER_ARGS)}"


def test_the_encoder_arguments_are_the_config_fields():
    assert {"patch_size", "embed_dim", "depth", "num_heads", "img_size", "num_frames"} <= ENCODER_ARGS
    for cls in (VideoMAEEncoder, VideoMAEPretrainModel, VideoMAEClassifier):
        params = inspect.signature(cls).parameters
        assert params.keys() >= ENCODER_ARGS, cls
        assert all(params[f.name].default == f.default for f in dataclasses.fields(EncoderConfig))


def shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("cls", [VideoMAEEncoder, VideoMAEPretrainModel, VideoMAEClassifier])
def test_a_model_from_a_config_equals_one_built_by_keyword(cls):
    extra = {"pretrain": DECODER, "classifier": {"num_classes": 5}}.get(
        {VideoMAEPretrainModel: "pretrain", VideoMAEClassifier: "classifier"}.get(cls, ""), {})
    from_config = cls.from_config(SMALL, **extra)
    by_keyword = cls(**SMALL.as_dict(), **extra)
    assert shapes(from_config) == shapes(by_keyword) and len(shapes(by_keyword)) > 10
    assert from_config.encoder_config == by_keyword.encoder_config == SMALL
    if cls is not VideoMAEEncoder:
        assert from_config.config == by_keyword.config
        assert {k: from_config.config[k] for k in ENCODER_ARGS} == SMALL.as_dict()


def test_an_unknown_argument_is_named():
    with pytest.raises(TypeError, match="embed_dims"):
        VideoMAEClassifier(3, embed_dims=32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SMALL.depth = 3  # type: ignore[misc]
