"""`python -m videomae_ssl.predict`: test views of a real clip through a tiny classifier."""

from __future__ import annotations

import re

import pytest
import torch
from clips import write_clip

from videomae_ssl.checkpoints import load_checkpoint
from videomae_ssl.data.augment import finetune_eval_transform
from videomae_ssl.data.frame_indices import evaluation_clip_indices
from videomae_ssl.data.readers import open_video
from videomae_ssl.data.transforms import normalize_video
from videomae_ssl.models import videomae_classifier, videomae_pretrain
from videomae_ssl.models.build import model_record
from videomae_ssl.predict import EvalSettings, main, predict_video, resolve_settings

NAMES = {"0": "move_left", "1": "move_right", "2": "rotate"}
EVAL = {
    "num_frames": 4,
    "sampling_rate": 2,
    "sampling": "dense",
    "input_size": 32,
    "test_clips": 2,
    "test_crops": 3,
}
LINE = re.compile(r"^  (\d)\. (\S+) +(\d+\.\d\d)%$")


def tiny_classifier(seed: int) -> torch.nn.Module:
    """Random weights everywhere (the head too), so that the classes get distinct scores."""
    torch.manual_seed(seed)
    model = videomae_classifier(num_classes=3, size="tiny", img_size=32, patch_size=8, num_frames=4)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.eval()


def save_finetune(path, model, ema_model=None, id2label=NAMES, eval_settings=EVAL):
    """The fine-tuning LightningModule's checkpoint layout, written as a plain dict."""
    state = {f"net.{k}": v for k, v in model.state_dict().items()}
    if ema_model is not None:
        state.update({f"ema.module.{k}": v for k, v in ema_model.state_dict().items()})
    ours = {**model_record(model), "id2label": id2label}
    if eval_settings is not None:
        ours["eval"] = eval_settings
    torch.save({"state_dict": state, "videomae_ssl": ours}, path)
    return path


def expected_probs(model, video, num_clips=2, num_crops=3, num_frames=4, rate=2, size=32):
    """The paper's protocol written out: views from the public helpers, the softmax of each view
    on its own, then the plain mean over views."""
    with open_video(str(video), "pyav") as v:
        clips = evaluation_clip_indices(v.num_frames, num_frames, rate, "dense", num_clips)
        frames = [v.read(c).permute(0, 3, 1, 2) for c in clips]  # (T, 3, H, W) each
    views = [view for f in frames for view in finetune_eval_transform(f, size, num_crops)]
    assert len(views) == num_clips * num_crops
    with torch.no_grad():
        per_view = [
            torch.softmax(model(normalize_video(view[None])).double(), dim=-1)[0] for view in views
        ]
    return sum(per_view) / len(per_view)


def printed(out: str) -> tuple[str, list[tuple[str, float]]]:
    """(header line, [(class name, percent)]) from the command's output."""
    header, *rows = out.strip().splitlines()
    parsed = [LINE.match(row) for row in rows]
    assert all(parsed), rows
    assert [int(m[1]) for m in parsed] == list(range(1, len(rows) + 1))
    return header, [(m[2], float(m[3])) for m in parsed]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_clip(path, num_frames=16, size=(64, 48))
    return path


@pytest.fixture(scope="module")
def model():
    return tiny_classifier(seed=0)


@pytest.fixture
def ckpt(tmp_path, model):
    return save_finetune(tmp_path / "ft.ckpt", model)


def test_prints_every_class_with_its_averaged_probability(ckpt, model, video, capsys):
    assert main([str(ckpt), str(video), "--topk", "3", "--backend", "pyav", "--device", "cpu"]) == 0
    header, rows = printed(capsys.readouterr().out)
    assert header == (
        f"{video}: 6 views (2 clips x 3 crops), 4 frames 2 apart at 32 px, model {ckpt} (cpu)"
    )
    assert sorted(name for name, _ in rows) == sorted(NAMES.values())
    assert abs(sum(p for _, p in rows) - 100.0) < 0.02
    assert [p for _, p in rows] == sorted((p for _, p in rows), reverse=True)
    expected = expected_probs(model, video)
    by_name = {NAMES[str(i)]: 100 * float(p) for i, p in enumerate(expected)}
    assert all(abs(p - by_name[name]) <= 0.005 + 1e-9 for name, p in rows)


def test_predict_video_is_the_mean_of_per_view_softmax(model, video):
    probs = predict_video(model, video, EvalSettings(**EVAL), backend="pyav", batch_size=4)
    assert probs.shape == (3,) and probs.dtype == torch.float32
    torch.testing.assert_close(probs.double(), expected_probs(model, video), atol=1e-6, rtol=0)
    single = predict_video(
        model, video, EvalSettings(**{**EVAL, "test_clips": 1, "test_crops": 1}), backend="pyav"
    )
    torch.testing.assert_close(
        single.double(), expected_probs(model, video, 1, 1), atol=1e-6, rtol=0
    )


def test_flags_override_the_checkpoint_and_single_view(ckpt, model, video, capsys):
    args = [str(ckpt), str(video), "--backend", "pyav", "--device", "cpu"]
    assert main([*args, "--views", "single", "--topk", "1"]) == 0
    header, rows = printed(capsys.readouterr().out)
    assert "1 view (1 clip x 1 crop), 4 frames 2 apart at 32 px" in header and len(rows) == 1
    assert main([*args, "--clips", "3", "--crops", "1", "--sampling-rate", "3"]) == 0
    header, rows = printed(capsys.readouterr().out)
    assert "3 views (3 clips x 1 crop), 4 frames 3 apart" in header and len(rows) == 3
    top = max(range(3), key=lambda i: expected_probs(model, video, 3, 1, rate=3)[i])
    assert rows[0][0] == NAMES[str(top)]


def test_settings_default_to_the_model_without_recorded_protocol(tmp_path, model):
    path = save_finetune(tmp_path / "bare.ckpt", model, eval_settings=None)
    settings = resolve_settings(load_checkpoint(path), {})
    assert settings == EvalSettings(
        num_frames=4, sampling_rate=4, sampling="dense", input_size=32, test_clips=5, test_crops=3
    )


@pytest.mark.parametrize(("flag", "value"), [("--frames", "8"), ("--input-size", "64")])
def test_frames_and_size_must_be_the_models(ckpt, video, capsys, flag, value):
    assert main([str(ckpt), str(video), flag, value, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} {value}: the model in {ckpt} takes")


def test_class_ids_or_a_labels_file_name_the_classes(tmp_path, model, video, capsys):
    path = save_finetune(tmp_path / "anon.ckpt", model, id2label=None)
    args = [str(path), str(video), "--backend", "pyav", "--device", "cpu"]
    assert main(args) == 0
    assert sorted(name for name, _ in printed(capsys.readouterr().out)[1]) == ["0", "1", "2"]
    (tmp_path / "classes.txt").write_text("jump\nrun\nswim\n")
    assert main([*args, "--labels", str(tmp_path / "classes.txt")]) == 0
    assert sorted(n for n, _ in printed(capsys.readouterr().out)[1]) == ["jump", "run", "swim"]
    (tmp_path / "two.txt").write_text("jump\nrun\n")
    assert main([*args, "--labels", str(tmp_path / "two.txt")]) == 2
    assert "2 class names for a model with 3 classes" in capsys.readouterr().err


def test_ema_weights_are_used_with_the_flag(tmp_path, model, video, capsys):
    averaged = tiny_classifier(seed=1)
    path = save_finetune(tmp_path / "ema.ckpt", model, ema_model=averaged)
    assert main([str(path), str(video), "--backend", "pyav", "--device", "cpu", "--ema"]) == 0
    header, rows = printed(capsys.readouterr().out)
    assert header.endswith(f"model {path}, EMA weights (cpu)")
    expected = expected_probs(averaged, video)
    assert abs(dict(rows)[NAMES["0"]] - 100 * float(expected[0])) <= 0.005 + 1e-9
    assert abs(expected - expected_probs(model, video)).max() > 0.01  # the two models differ


def test_ema_flag_without_ema_weights_is_an_error(ckpt, video, capsys):
    assert main([str(ckpt), str(video), "--ema"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {ckpt}: holds no EMA weights") and err.count("\n") == 1


def test_pretraining_checkpoint_is_refused(tmp_path, video, capsys):
    net = videomae_pretrain(size="tiny", img_size=32, patch_size=8, num_frames=4)
    torch.save(
        {
            "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
            "videomae_ssl": model_record(net),
        },
        tmp_path / "pre.ckpt",
    )
    assert main([str(tmp_path / "pre.ckpt"), str(video)]) == 2
    err = capsys.readouterr().err
    assert "no classification head" in err and "fine-tune it first" in err
    assert err.count("\n") == 1


def test_missing_broken_and_bad_inputs_give_one_line(tmp_path, ckpt, video, capsys):
    missing = tmp_path / "nowhere.mp4"
    assert main([str(ckpt), str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {missing}: no such video file.\n"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 500)
    assert main([str(ckpt), str(broken), "--backend", "pyav", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {broken}:") and err.count("\n") == 1
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00not a checkpoint" * 100)
    assert main([str(garbage), str(video)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {garbage}:") and err.count("\n") == 1
