"""The distillation module: the training loss is the formula on the student's and the frozen
teacher's logits (a teacher of another width, depth, patch and input size), the teacher never
trains and never enters the optimizer or the checkpoint's weights, the checkpoint records the
teacher's file and hash, and a resume with another teacher stops."""

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from videomae_ssl.checkpoints import build_model, load_checkpoint
from videomae_ssl.errors import ConfigError
from videomae_ssl.lightning.distill_module import DistillationModule, FrozenTeacher
from videomae_ssl.models import videomae_classifier

STUDENT = dict(img_size=32, num_frames=4, patch_size=8, embed_dim=32, depth=2, num_heads=2)
# Another width, depth, patch and input size: the teacher sees the clip resized to 48 px.
TEACHER = dict(img_size=48, num_frames=4, patch_size=16, embed_dim=48, depth=3, num_heads=3)


def teacher_net(seed=1, num_classes=3):
    torch.manual_seed(seed)
    net = videomae_classifier(num_classes=num_classes, size="tiny", **TEACHER)
    with torch.no_grad():  # distinct scores per class, as a trained head gives
        net.head.weight.normal_(0, 0.5)
    return net


def student_net(seed=0):
    torch.manual_seed(seed)
    # No stochastic depth: the first step's loss is then a function of the weights alone.
    return videomae_classifier(num_classes=3, size="tiny", drop_path_rate=0.0, **STUDENT)


def clip(i):
    return torch.randn(3, 4, 32, 32, generator=torch.Generator().manual_seed(i))


class Labelled(torch.utils.data.Dataset):
    def __init__(self, test=False):
        self.test = test

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if self.test:
            return {"video": clip(i), "label": (i // 2) % 3, "video_id": i // 2, "view_id": i % 2}
        target = 0.9 * F.one_hot(torch.tensor(i % 3), 3).float() + 0.1 / 3  # smoothed
        return {"video": clip(i), "label": i % 3, "target": target}


class DataModule(L.LightningDataModule):
    def train_dataloader(self):
        return DataLoader(Labelled(), batch_size=4)

    def test_dataloader(self):
        return DataLoader(Labelled(test=True), batch_size=4)


class Steps(L.Callback):
    """Each step's loss, and the weights the first step started from."""

    def __init__(self):
        self.losses, self.start = [], None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if self.start is None:
            self.start = {k: v.clone() for k, v in module.net.state_dict().items()}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def trainer(tmp_path, callbacks=(), **kw):
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=list(callbacks),
        **kw,
    )


def module(teacher, **kw):
    settings = dict(temperature=2.0, alpha=0.7, batch_size=4, base_lr=0.5, warmup_epochs=0)
    return DistillationModule(
        student_net(),
        teacher,
        teacher_file="teacher.ckpt",
        teacher_sha256="ab" * 32,
        **{**settings, **kw},
    )


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_first_step_loss_is_the_formula_on_student_and_resized_teacher_logits(tmp_path):
    teacher = teacher_net()
    mod = module(teacher)
    steps = Steps()
    trainer(tmp_path, [steps], max_epochs=1, enable_checkpointing=False).fit(mod, DataModule())
    video = torch.stack([clip(i) for i in range(4)])  # the first batch
    student = student_net()
    student.load_state_dict(steps.start)
    # The teacher in eval mode on each frame resized to its 48 px, bilinearly.
    frames = video.permute(0, 2, 1, 3, 4).reshape(16, 3, 32, 32)
    resized = F.interpolate(frames, size=(48, 48), mode="bilinear", align_corners=False)
    resized = resized.reshape(4, 4, 3, 48, 48).permute(0, 2, 1, 3, 4)
    with torch.no_grad():
        z_s = student.train()(video).double().numpy()
        z_t = teacher_net().eval()(resized).double().numpy()
    targets = torch.stack([Labelled()[i]["target"] for i in range(4)]).double().numpy()
    label = -(targets * np.log(np_softmax(z_s))).sum(1).mean()
    p_s, p_t = np_softmax(z_s / 2.0), np_softmax(z_t / 2.0)
    kl = 4.0 * (p_t * (np.log(p_t) - np.log(p_s))).sum(1).mean()
    assert steps.losses[0] == pytest.approx(0.3 * label + 0.7 * kl, rel=1e-4)


def test_the_teacher_never_trains_and_stays_out_of_optimizer_and_checkpoint(tmp_path):
    teacher = teacher_net()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    mod = module(teacher, hard=True)
    t = trainer(tmp_path, max_epochs=2, enable_checkpointing=False)
    t.fit(mod, DataModule())
    assert not teacher.training
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, before[key]), key
    optimized = {id(p) for g in t.optimizers[0].param_groups for p in g["params"]}
    assert optimized == {id(p) for p in mod.net.parameters()}
    assert not optimized & {id(p) for p in teacher.parameters()}
    assert not any(name.startswith("teacher") for name, _ in mod.named_parameters())

    path = tmp_path / "student.ckpt"
    t.save_checkpoint(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert {k.split(".")[0] for k in state["state_dict"]} == {"net"}
    assert state["videomae_ssl"]["distill"] == {
        "teacher": "teacher.ckpt",
        "teacher_sha256": "ab" * 32,
        "temperature": 2.0,
        "alpha": 0.7,
        "hard": True,
    }
    assert "teacher" not in state["hyper_parameters"]
    # The student's checkpoint is a classifier like any fine-tuning run's.
    loaded = load_checkpoint(path)
    assert loaded.kind == "classifier" and loaded.config["embed_dim"] == 32
    x = clip(0)[None]
    mod.net.eval()
    assert torch.allclose(build_model(loaded).eval()(x), mod.net(x), atol=1e-6)


def test_a_module_without_teacher_tests_a_student_but_does_not_train(tmp_path):
    mod = DistillationModule(student_net(), batch_size=4, test_views=2)
    trainer(tmp_path).test(mod, datamodule=DataModule())
    assert mod.test_result["test/num_videos"] == 4
    with pytest.raises(ConfigError, match="set distill.teacher="):
        trainer(tmp_path, max_epochs=1, enable_checkpointing=False).fit(mod, DataModule())


def test_resuming_with_another_teacher_file_stops(tmp_path):
    mod = module(teacher_net())
    recorded = {"videomae_ssl": {"distill": {"teacher": "old.ckpt", "teacher_sha256": "cd" * 32}}}
    with pytest.raises(ConfigError, match=r"distill.teacher=teacher.ckpt: not the teacher"):
        mod.on_load_checkpoint(recorded)
    mod.on_load_checkpoint({"videomae_ssl": {"distill": {"teacher_sha256": "ab" * 32}}})


def test_a_teacher_of_other_classes_or_bad_settings_is_refused():
    with pytest.raises(ConfigError, match="predicts 5 classes, the student 3"):
        module(teacher_net(num_classes=5))
    with pytest.raises(ConfigError, match="distill.alpha=1.5"):
        module(teacher_net(), alpha=1.5)
    with pytest.raises(ConfigError, match="distill.temperature=0"):
        module(teacher_net(), temperature=0)


def test_frozen_teacher_keeps_an_input_of_its_own_size_as_it_is():
    net = teacher_net()
    frozen = FrozenTeacher(net)
    video = torch.randn(2, 3, 4, 48, 48, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = net(video)
    got = frozen(video)
    assert not got.requires_grad
    torch.testing.assert_close(got, expected)
