"""Hugging Face Hub ids for checkpoints: resolved through a cache that huggingface_hub itself
fills from a fake Hub on 127.0.0.1 (tests/checkpoints/fake_hub.py), never the network.

huggingface_hub reads HF_ENDPOINT, HF_HUB_CACHE and HF_HUB_OFFLINE when it is imported, so each
resolution runs in a fresh process with those variables set, as a user's command would.
"""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
from fake_hub import FakeHub, read_folder

from videomae_ssl.checkpoints import build_model, export_hf, load_checkpoint
from videomae_ssl.checkpoints.hub import HubError, parse_hub_id, resolve_checkpoint

SRC = Path(__file__).resolve().parents[2] / "src"
REPO = "MCG-NJU/tiny-test"
# Resolve each argument as `pretrained=` does; print the path or the one-line error, and
# whether torch was imported (the training command's checks run before torch is imported).
RESOLVE = """
import sys
from videomae_ssl.checkpoints.hub import resolve_checkpoint
from videomae_ssl.errors import UserInputError
for reference in sys.argv[1:]:
    try:
        print(resolve_checkpoint(reference, "pretrained"))
    except UserInputError as err:
        print(f"error: {err}")
print("torch imported" if "torch" in sys.modules else "no torch")
"""


def hub_env(tmp_path: Path, endpoint: str, offline: bool) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
        "HF_HUB_OFFLINE": "1" if offline else "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_TOKEN": "",
    }


def resolve(env: dict[str, str], *references: str, cwd: Path | None = None) -> list[str]:
    """The lines RESOLVE prints for `references` (the last one says whether torch came in)."""
    out = subprocess.run(
        [sys.executable, "-c", RESOLVE, *references],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()


@pytest.fixture
def hub_repo(tiny, tmp_path):
    """(the tiny pretraining model, a fake Hub serving it as REPO plus unrelated files, and a
    repository holding one original .pth)."""
    model = tiny.ours_pretrain()
    files = read_folder(export_hf(model, tmp_path / "upload"))
    files["samples/clip.mp4"] = b"not a checkpoint file"
    files["README.md"] = b"---\nlicense: cc-by-nc-4.0\ntags:\n- video\n---\n# A released model\n"
    torch.save({"model": model.state_dict()}, tmp_path / "vit.pth")
    repos = {
        REPO: files,
        "someone/original-pth": {"vit_tiny.pth": (tmp_path / "vit.pth").read_bytes()},
    }
    return model, repos


def same_weights(model: torch.nn.Module, path: Path) -> bool:
    loaded = build_model(
        load_checkpoint(path, num_frames=4, img_size=32, num_heads=4, decoder_num_heads=2)
    )
    return all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_hub_id_downloads_into_the_cache_then_resolves_offline(hub_repo, tmp_path):
    """(a) online: the id resolves to huggingface_hub's snapshot folder, holding only the
    checkpoint files, which load_checkpoint reads; (b) with HF_HUB_OFFLINE=1 and the server gone,
    the same id (and @main) resolves from the cache."""
    model, repos = hub_repo
    with FakeHub(repos) as hub:
        lines = resolve(hub_env(tmp_path, hub.url, offline=False), REPO, f"{REPO}@main")
        asked = list(hub.requests)
    snapshot = (
        tmp_path / "hf" / "hub" / "models--MCG-NJU--tiny-test" / "snapshots" / hub.commits[REPO]
    )
    assert lines == [str(snapshot), str(snapshot), "no torch"]
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    assert not any("samples" in path for _, path in asked)
    assert same_weights(model, snapshot)
    assert load_checkpoint(snapshot).format == "hf"

    offline = resolve(hub_env(tmp_path, hub.url, offline=True), REPO, f"{REPO}@main")
    assert offline == [str(snapshot), str(snapshot), "no torch"]
    # A cache that lost a file it listed says so, rather than handing over a folder without weights.
    (snapshot / "model.safetensors").unlink()
    (line, _) = resolve(hub_env(tmp_path, hub.url, offline=True), REPO)
    assert line == (
        f"error: pretrained={REPO}: the Hugging Face cache ({tmp_path / 'hf' / 'hub'}) "
        "holds only part of this model and HF_HUB_OFFLINE=1; complete it where the "
        f"Hub is reachable: uv run hf download {REPO}"
    )


def test_an_id_that_is_not_cached_offline_is_one_line_naming_the_key(tmp_path):
    """(c) HF_HUB_OFFLINE=1 and nothing cached: one line with the key, the cache and the
    command that downloads it."""
    env = hub_env(tmp_path, "http://127.0.0.1:9", offline=True)
    (line, _) = resolve(env, "MCG-NJU/videomae-base")
    cache = tmp_path / "hf" / "hub"
    assert line == (
        f"error: pretrained=MCG-NJU/videomae-base: not in the Hugging Face cache ({cache}) and "
        "HF_HUB_OFFLINE=1; download it where the Hub is reachable: "
        "uv run hf download MCG-NJU/videomae-base"
    )


def test_a_local_folder_named_like_an_id_wins(hub_repo, tmp_path):
    """(d) A folder MCG-NJU/tiny-test in the working directory is read as a folder: the Hub is
    not asked (offline, with an empty cache, asking would fail)."""
    model, _ = hub_repo
    export_hf(model, tmp_path / "work" / REPO)
    lines = resolve(
        hub_env(tmp_path, "http://127.0.0.1:9", offline=True), REPO, cwd=tmp_path / "work"
    )
    assert lines == [REPO, "no torch"]
    assert not (tmp_path / "hf" / "hub").exists()


def test_hub_errors_name_the_key_and_what_is_wrong(hub_repo, tmp_path):
    """Unknown models and revisions are one line each; a repository of one .pth resolves to
    that file."""
    model, repos = hub_repo
    with FakeHub(repos) as hub:
        lines = resolve(
            hub_env(tmp_path, hub.url, offline=False),
            "someone/original-pth",
            "MCG-NJU/missing",
            f"{REPO}@v9",
        )
    assert lines[0].endswith("/vit_tiny.pth") and "models--someone--original-pth" in lines[0]
    assert same_weights(model, Path(lines[0]))
    assert lines[1].startswith(
        "error: pretrained=MCG-NJU/missing: no such file or folder, and no "
        "Hugging Face Hub model MCG-NJU/missing"
    )
    assert lines[2] == (
        f"error: pretrained={REPO}@v9: no such file or folder, and the Hugging "
        f"Face Hub model {REPO} has no revision 'v9'."
    )


def test_convert_reads_a_hub_id_from_the_cache_offline(hub_repo, tmp_path):
    """(e) `python -m videomae_ssl.convert MCG-NJU/tiny-test out.pth --to original`, offline,
    from the cache that an online resolution filled; and `--to hf`, whose card keeps the
    license of the source's card."""
    model, repos = hub_repo
    with FakeHub(repos) as hub:
        resolve(hub_env(tmp_path, hub.url, offline=False), REPO)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "videomae_ssl.convert",
            REPO,
            str(tmp_path / "out.pth"),
            "--to",
            "original",
        ],
        env=hub_env(tmp_path, hub.url, offline=True),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Hugging Face transformers, pretraining (encoder + decoder) weights" in out.stdout
    assert same_weights(model, tmp_path / "out.pth")
    # To a Hugging Face folder: its card names the id it came from and keeps the source's license.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "videomae_ssl.convert",
            REPO,
            str(tmp_path / "exported"),
            "--to",
            "hf",
        ],
        env=hub_env(tmp_path, hub.url, offline=True),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    card = (tmp_path / "exported" / "README.md").read_text()
    assert "license: cc-by-nc-4.0" in card.split("---")[1]
    assert f"| converted from | `{REPO}` (Hugging Face transformers) |" in card


def test_safetensors_are_fetched_and_a_bin_only_when_nothing_else_holds_weights(hub_repo, tmp_path):
    """A repository with model.safetensors and pytorch_model.bin gives the safetensors alone; one
    with only pytorch_model.bin gives that, online and then offline from the cache."""
    model, repos = hub_repo
    both = dict(repos[REPO])
    buffer = io.BytesIO()
    torch.save(safetensors.torch.load(both["model.safetensors"]), buffer)
    both["pytorch_model.bin"] = buffer.getvalue()
    only_bin = {k: v for k, v in both.items() if k != "model.safetensors"}
    with FakeHub({"a/both": both, "a/only-bin": only_bin}) as hub:
        lines = resolve(hub_env(tmp_path, hub.url, offline=False), "a/both", "a/only-bin")
        fetched = [
            path.rsplit("/", 1)[1]
            for method, path in hub.requests
            if method == "GET" and "/a/both/resolve/" in path
        ]

    def weights(folder: str) -> list[str]:
        return sorted(
            p.name for p in Path(folder).iterdir() if p.suffix in (".bin", ".safetensors")
        )

    assert "model.safetensors" in fetched and "pytorch_model.bin" not in fetched
    assert weights(lines[0]) == ["model.safetensors"]
    assert weights(lines[1]) == ["pytorch_model.bin"]
    assert resolve(hub_env(tmp_path, hub.url, offline=True), "a/both", "a/only-bin") == lines
    assert same_weights(model, Path(lines[1]))


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("MCG-NJU/videomae-base", ("MCG-NJU/videomae-base", None)),
        ("MCG-NJU/videomae-base@main", ("MCG-NJU/videomae-base", "main")),
        ("owner/name.v2@refs/pr/1", ("owner/name.v2", "refs/pr/1")),
        ("weights/vit_b_k400_pretrain.pth", None),  # a file name, not a model
        ("outputs/run/checkpoints/last.ckpt", None),
        ("/abs/owner-name", None),
        ("videomae-base", None),
        ("a--b/c", None),
        ("owner/../name", None),
    ],
)
def test_what_counts_as_a_hub_id(reference, parsed):
    assert parse_hub_id(reference) == parsed


def test_a_missing_path_that_is_no_id_is_one_line_naming_the_key(tmp_path):
    with pytest.raises(HubError) as err:
        resolve_checkpoint(str(tmp_path / "missing.pth"), "pretrained")
    message = str(err.value)
    assert message.startswith(
        f"pretrained={tmp_path / 'missing.pth'}: no such file or folder, "
        "and not a Hugging Face Hub id"
    )
    assert "\n" not in message
    with pytest.raises(HubError, match=r"^SRC weights/x\.pth: no such file"):
        resolve_checkpoint("weights/x.pth", "SRC")


def test_an_existing_path_is_returned_as_it_is(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"")
    assert resolve_checkpoint(tmp_path / "w.pth", "pretrained") == tmp_path / "w.pth"


@pytest.mark.parametrize("command", ["predict", "visualize"])
def test_predict_and_visualize_resolve_their_checkpoint_argument(
    command, tmp_path, monkeypatch, capsys
):
    """CKPT goes through the same resolution: here an id offline and not cached."""
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")  # never read: the checkpoint fails first
    main = importlib.import_module(f"videomae_ssl.{command}").main
    extra = ["--out", str(tmp_path / "o.png")] if command == "visualize" else []
    assert main(["MCG-NJU/videomae-base", str(video), "--backend", "pyav", *extra]) == 2
    assert capsys.readouterr().err == (
        f"error: CKPT MCG-NJU/videomae-base: not in the Hugging Face cache ({tmp_path / 'cache'}) "
        "and HF_HUB_OFFLINE=1; download it where the Hub is reachable: "
        "uv run hf download MCG-NJU/videomae-base\n"
    )


# The training command's check of pretrained= / ckpt_path=, then the loader the stages use.
CHECK_AND_LOAD = """
import sys
from omegaconf import OmegaConf
from videomae_ssl.stages.checks import check_checkpoint_keys
from videomae_ssl.checkpoints import load_checkpoint
for stage, key in (("fit", "pretrained"), ("probe", "pretrained"), ("test", "ckpt_path")):
    cfg = {"stage": stage, "pretrained": None, "ckpt_path": None, key: sys.argv[1]}
    check_checkpoint_keys(OmegaConf.create(cfg))
print(load_checkpoint(sys.argv[1], key="pretrained").format)
"""


def test_pretrained_ckpt_path_and_extract_take_a_hub_id(hub_repo, tmp_path):
    """The training command's pretrained= (fit and probe) and stage=test's ckpt_path= accept
    the id, the loaders read it from the cache, and extract's CKPT does too: all offline."""
    from clips import write_clip

    _, repos = hub_repo
    with FakeHub(repos) as hub:
        resolve(hub_env(tmp_path, hub.url, offline=False), REPO)
    offline = hub_env(tmp_path, hub.url, offline=True)
    out = subprocess.run(
        [sys.executable, "-c", CHECK_AND_LOAD, REPO],
        env=offline,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["hf"]
    write_clip(tmp_path / "clip.mp4", num_frames=12, size=(48, 32))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "videomae_ssl.extract",
            REPO,
            str(tmp_path / "clip.mp4"),
            "--out",
            str(tmp_path / "features"),
            "--device",
            "cpu",
        ],
        env=offline,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert (tmp_path / "features" / "clip.npy").is_file()
    # Not cached and offline: the command's one line names the key.
    out = subprocess.run(
        [sys.executable, "-c", CHECK_AND_LOAD, "MCG-NJU/not-cached"],
        env=offline,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "pretrained=MCG-NJU/not-cached: not in the Hugging Face cache" in out.stderr
