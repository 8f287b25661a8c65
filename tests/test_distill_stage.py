"""stage=distill end to end on a few generated clips: a student trained from a teacher of
another size, patch and input size ends with the multi-view test and a checkpoint that records
the teacher; bad teachers are one error line before training; a killed run resumed with
resume=auto ends with the uninterrupted run's weights."""

import hashlib

import pytest
import torch
from clips import write_clip
from hydra import compose, initialize_config_dir
from tiny_runs import run_train_command

from videomae_ssl.errors import ConfigError, UserInputError
from videomae_ssl.models import videomae_classifier, videomae_pretrain
from videomae_ssl.models.build import model_record
from videomae_ssl.stages.fit import run
from videomae_ssl.train import CONFIG_DIR

# The teacher: another width, depth, patch and input size than the student (32 px, patch 8).
TEACHER = dict(img_size=48, num_frames=4, patch_size=16, embed_dim=48, depth=2, num_heads=3)


def save_classifier(path, net, names=None):
    """A fine-tuning run's checkpoint layout, written as a plain dict."""
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save(
        {"state_dict": state, "videomae_ssl": {**model_record(net), "id2label": names}}, path
    )
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8 clips of two classes, all in the training and the test list, and the teachers."""
    folder = tmp_path_factory.mktemp("distill_data")
    (folder / "videos").mkdir()
    for k in range(8):
        write_clip(folder / "videos" / f"c{k}.mp4", num_frames=12, size=(48, 32))
    lines = "".join(f"videos/c{k}.mp4 {k % 2}\n" for k in range(8))
    (folder / "train.csv").write_text(lines)
    (folder / "test.csv").write_text(lines)
    torch.manual_seed(0)
    save_classifier(folder / "teacher.ckpt", videomae_classifier(2, "tiny", **TEACHER))
    save_classifier(folder / "teacher3.ckpt", videomae_classifier(3, "tiny", **TEACHER))
    pretrain = videomae_pretrain(
        "tiny", **TEACHER, decoder_embed_dim=24, decoder_depth=1, decoder_num_heads=3
    )
    state = {f"net.{k}": v for k, v in pretrain.state_dict().items()}
    torch.save({"state_dict": state, "videomae_ssl": model_record(pretrain)}, folder / "pre.ckpt")
    (folder / "notes.ckpt").write_text("not a checkpoint\n")
    return folder


def overrides(data, run_dir, *extra):
    """A two-block student on 4 frames of 32 px, trained one epoch of 4 steps, tested on one
    view per video."""
    return [
        "experiment=k400_distill",
        "trainer=cpu",
        f"data.train_list={data / 'train.csv'}",
        "data.val_list=null",
        f"data.test_list={data / 'test.csv'}",
        f"data.root={data}",
        "data.class_names=null",
        "data.num_classes=2",
        "data.num_frames=4",
        "data.sampling_rate=2",
        "data.input_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        "data.pin_memory=false",
        "data.backend=pyav",
        "data.test_clips=1",
        "data.test_crops=1",
        "model.net.size=tiny",
        "model.net.patch_size=8",
        "+model.net.embed_dim=32",
        "+model.net.depth=2",
        "+model.net.num_heads=2",
        "optim.warmup_epochs=0",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        f"distill.teacher={data / 'teacher.ckpt'}",
        *extra,
    ]


def distill_here(data, run_dir, *extra):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                *overrides(data, run_dir, *extra),
                f"paths.root_dir={run_dir.parent}",
                f"paths.output_dir={run_dir}",
            ],
        )
    return run(cfg)


def test_a_student_learns_from_a_teacher_of_another_size_and_ends_with_the_test(
    data, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    result = distill_here(data, run_dir)
    said = capsys.readouterr().out
    assert f"Teacher: {data / 'teacher.ckpt'} (custom ViT, width 48, depth 2" in said
    assert "clips resized from 32 to 48 px for it." in said
    assert 0 <= result["test/top1"] <= 1 and result["test/num_videos"] == 8
    assert {"train/distill_loss", "train/label_loss", "train/loss_epoch"} <= set(result)
    state = torch.load(result["checkpoint"], map_location="cpu", weights_only=True)
    assert {k.split(".")[0] for k in state["state_dict"]} == {"net"}
    assert state["videomae_ssl"]["model_args"]["embed_dim"] == 32  # the student
    record = state["videomae_ssl"]["distill"]
    teacher = data / "teacher.ckpt"
    assert record["teacher"] == str(teacher)
    assert record["teacher_sha256"] == hashlib.sha256(teacher.read_bytes()).hexdigest()
    assert (record["temperature"], record["alpha"], record["hard"]) == (1.0, 0.5, False)


@pytest.mark.parametrize(
    "teacher, message",
    [
        ("teacher3.ckpt", "teacher3.ckpt: predicts 3 classes, but data.num_classes=2"),
        ("pre.ckpt", "pre.ckpt: holds pretrain weights, not a classifier"),
        ("notes.ckpt", "notes.ckpt: "),
        ("missing.ckpt", "missing.ckpt: no such file or folder"),
    ],
)
def test_a_bad_teacher_stops_before_training_naming_the_key_and_file(
    data, tmp_path, teacher, message
):
    run_dir = tmp_path / "run"
    with pytest.raises(UserInputError) as caught:
        distill_here(data, run_dir, f"distill.teacher={data / teacher}")
    assert str(caught.value).startswith(f"distill.teacher={data / teacher}"), caught.value
    assert message in str(caught.value)
    assert not (run_dir / "checkpoints").exists()


def test_a_teacher_of_other_frames_is_refused(data, tmp_path):
    with pytest.raises(ConfigError, match=r"trained on 4 frames, but data.num_frames=8"):
        distill_here(data, tmp_path / "run", "data.num_frames=8")


@pytest.mark.parametrize(
    "extra, message",
    [
        (("distill.teacher=null",), "distill.teacher is not set"),
        (("distill.alpha=2",), "distill.alpha=2: expected a number in [0, 1]"),
        (("distill.temperature=0",), "distill.temperature=0: expected a number > 0"),
        (("stage=fit",), "stage=fit with a distillation experiment"),
    ],
)
def test_distill_settings_are_checked_before_anything_is_built(data, tmp_path, extra, message):
    with pytest.raises(ConfigError) as caught:
        distill_here(data, tmp_path / "run", *extra)
    assert message in str(caught.value)


def test_stage_distill_with_a_fine_tuning_experiment_names_the_experiments(tmp_path):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=demo_finetune", "stage=distill"])
    with pytest.raises(ConfigError, match="experiment=demo_distill, ucf101_distill or k400"):
        run(cfg)


def test_the_command_says_a_bad_teacher_in_one_line(data, tmp_path):
    run_dir = tmp_path / "run"
    out = run_train_command(
        [
            *overrides(data, tmp_path, f"distill.teacher={data / 'pre.ckpt'}"),
            f"hydra.run.dir={run_dir}",
        ],
        run_dir,
        timeout=300,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1] == (
        f"error: distill.teacher={data / 'pre.ckpt'}: holds pretrain weights, not a classifier; "
        "the teacher is a fine-tuned classifier (fine-tune it first with a *_finetune "
        "experiment)."
    )
    assert [line for line in lines if "error" in line.lower()] == lines[-1:]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def distill_command(data, run_dir, *extra):
    """The command in a subprocess (killed by the test's callback); returncode None on
    timeout."""
    return run_train_command(
        [*overrides(data, run_dir, *extra), f"hydra.run.dir={run_dir}"], run_dir, timeout=300
    )


@pytest.mark.slow
def test_a_killed_distillation_resumed_with_resume_auto_ends_as_an_uninterrupted_run(
    data, tmp_path
):
    # 8 clips in batches of 2: 4 steps per epoch, 2 epochs; last.ckpt every 2 steps. No test:
    # the weights are compared. Stochastic depth as the recipe's (0.1): the resumed job draws
    # the uninterrupted run's masks.
    common = (
        "trainer.max_epochs=2",
        "checkpoint_every_n_steps=2",
        "resume=auto",
        "test_after_fit=false",
    )
    distill_here(data, tmp_path / "whole", *common)

    run_dir = tmp_path / "outputs" / "job"
    kill = ("+callbacks.kill._target_=tiny_runs.KillAtStep", "+callbacks.kill.step=3")
    killed = distill_command(data, run_dir, *common, *kill)
    assert killed.returncode == -9, killed.stderr[-2000:]
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (0, 2)

    distill_here(data, run_dir, *common)  # the job started again; the teacher is read again
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    whole = torch.load(
        tmp_path / "whole" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    assert last["global_step"] == 8
    expected, got = whole["state_dict"], last["state_dict"]
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6, msg=key)
