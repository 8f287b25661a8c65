"""The attention biases survive the trip through Hugging Face folders under the installed
transformers, both ways: transformers 5 renamed them (`q_bias` / `v_bias` -> `query.bias` /
`value.bias`) and a file whose names a release does not map loads them as zeros, silently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from tiny_sizes import HF_CFG as TINY_HF

from videomae_ssl.checkpoints import export_hf, load_checkpoint, load_pretrained_encoder

transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

# The tiny size without its decoder, as transformers names it.
HF_CFG = {k: v for k, v in TINY_HF.items() if not k.startswith("decoder")}
OUR_BIAS = re.compile(r"(?:encoder\.|decoder\.)?blocks\.(\d+)\.attn\.([qv])_bias")
HF_BIAS = re.compile(
    r"(?:videomae\.)?(encoder\.layer|decoder\.decoder_layers)\.(\d+)\.attention\."
    r"attention\.(?:(query|value)\.bias|([qv])_bias)"
)


def our_biases(
    state: dict[str, torch.Tensor], prefix: str = ""
) -> dict[tuple[str, int, str], torch.Tensor]:
    """(encoder | decoder, block, q | v) -> bias, from a state dict in our names."""
    out = {}
    for key, value in state.items():
        if key.startswith(prefix) and (m := OUR_BIAS.fullmatch(key.removeprefix(prefix))):
            part = "decoder" if key.removeprefix(prefix).startswith("decoder.") else "encoder"
            out[(part, int(m[1]), m[2])] = value
    return out


def hf_biases(state: dict[str, torch.Tensor]) -> dict[tuple[str, int, str], torch.Tensor]:
    """The same from transformers names of either version."""
    out = {}
    for key, value in state.items():
        if m := HF_BIAS.fullmatch(key):
            part = "encoder" if m[1] == "encoder.layer" else "decoder"
            out[(part, int(m[2]), (m[3] or m[4])[0])] = value
    return out


def assert_biases_intact(source: dict, loaded: dict, where: str) -> None:
    """Every q / v bias of `source` is in `loaded`, not zeros, and equal; else an error naming
    the bias and where it was read."""
    assert source, f"{where}: no attention biases in the source"
    missing = sorted(set(source) - set(loaded))
    assert not missing, f"{where}: attention biases missing after loading: {missing}"
    for key, expected in source.items():
        name = f"{key[0]} block {key[1]} {key[2]}_bias"
        assert torch.count_nonzero(expected), f"{where}: the source's {name} is zeros: no test"
        assert torch.count_nonzero(loaded[key]), f"{where}: {name} loaded as zeros"
        assert torch.equal(loaded[key], expected), f"{where}: {name} differs from the source"


def hf_source(tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    """A random-init VideoMAEModel of the tiny size written by transformers' own
    save_pretrained. Its biases are drawn at random: transformers initialises them to zeros,
    which could not tell a lost bias from a loaded one."""
    config = transformers.VideoMAEConfig(**HF_CFG)
    model = transformers.VideoMAEModel(config).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.2, generator=generator)
    model.save_pretrained(tmp_path / "hf")
    return model, tmp_path / "hf"


def test_an_exported_folder_keeps_the_biases(tiny, tmp_path):
    ours = tiny.ours_pretrain()
    export_hf(ours, tmp_path / "exported")
    source = our_biases(ours.state_dict())
    assert {k[0] for k in source} == {"encoder", "decoder"}
    hf = transformers.VideoMAEForPreTraining.from_pretrained(tmp_path / "exported")
    assert_biases_intact(source, hf_biases(hf.state_dict()), "transformers.from_pretrained(export)")
    loaded = load_checkpoint(tmp_path / "exported")
    assert_biases_intact(source, our_biases(loaded.state), "load_checkpoint(export)")


def test_a_transformers_folder_keeps_the_biases(tiny, tmp_path):
    model, folder = hf_source(tmp_path)
    source = hf_biases(model.state_dict())
    assert len(source) == 2 * HF_CFG["num_hidden_layers"]
    again = transformers.VideoMAEModel.from_pretrained(folder)
    assert_biases_intact(source, hf_biases(again.state_dict()), "transformers.from_pretrained")
    loaded = load_checkpoint(folder)
    assert_biases_intact(source, our_biases(loaded.state), "load_checkpoint")
    classifier = tiny.ours_classifier(seed=5)
    load_pretrained_encoder(classifier, folder, log=None)
    assert_biases_intact(source, our_biases(classifier.state_dict()), "load_pretrained_encoder")


def spoil_biases(folder: Path, how: str) -> list[str]:
    """Zero (`zeroed`) or remove (`dropped`) the q / v biases in the folder's safetensors;
    -> the keys spoiled."""
    path = folder / "model.safetensors"
    state = safetensors_torch.load_file(path)
    spoiled = sorted(k for k in state if HF_BIAS.fullmatch(k))
    for key in spoiled:
        if how == "zeroed":
            state[key] = torch.zeros_like(state[key])
        else:
            del state[key]
    safetensors_torch.save_file(state, path, metadata={"format": "pt"})
    return spoiled


@pytest.mark.parametrize("reader", ["transformers", "ours"])
def test_a_folder_whose_biases_were_zeroed_is_reported(tmp_path, reader):
    model, folder = hf_source(tmp_path)
    assert spoil_biases(folder, "zeroed")
    if reader == "transformers":
        loaded = hf_biases(transformers.VideoMAEModel.from_pretrained(folder).state_dict())
    else:
        loaded = our_biases(load_checkpoint(folder).state)
    with pytest.raises(AssertionError, match=r"encoder block 0 q_bias loaded as zeros"):
        assert_biases_intact(hf_biases(model.state_dict()), loaded, reader)


def test_a_folder_whose_biases_were_lost_is_reported(tmp_path):
    """Names a release does not read: transformers starts those biases from its zeros, our
    loader reads a model without them; either way the check names the bias."""
    model, folder = hf_source(tmp_path)
    assert spoil_biases(folder, "dropped")
    source = hf_biases(model.state_dict())
    hf = hf_biases(transformers.VideoMAEModel.from_pretrained(folder).state_dict())
    with pytest.raises(AssertionError, match=r"q_bias loaded as zeros|biases missing"):
        assert_biases_intact(source, hf, "transformers")
    with pytest.raises(
        AssertionError, match=r"biases missing after loading: \[\('encoder', 0, 'q'\)"
    ):
        assert_biases_intact(source, our_biases(load_checkpoint(folder).state), "ours")
