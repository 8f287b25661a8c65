"""The fine-tuning module: layer-decay groups and their lr values, training with soft targets,
the EMA update, one-view validation, the multi-view test and the checkpoint's metadata."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from videomae_ssl.checkpoints import build_model, load_checkpoint
from videomae_ssl.data.datamodules import VideoDataModule
from videomae_ssl.data.transforms import normalize
from videomae_ssl.lightning.finetune_module import VideoClassificationModule
from videomae_ssl.models import videomae_classifier
from videomae_ssl.optim.param_groups import layer_decay_groups

NET = dict(img_size=32, num_frames=4, patch_size=8, embed_dim=32, depth=3, num_heads=2)


def classifier(num_classes=3, **kw):
    return videomae_classifier(num_classes=num_classes, size="tiny", **{**NET, **kw})


def expected_scale(name, depth, decay):
    """The original fine-tuning script's layer ids: embedding 0, block i -> i + 1, the rest
    (fc_norm, head) depth + 1; scale decay ** (depth + 1 - id)."""
    if name.startswith("patch_embed"):
        layer = 0
    elif name.startswith("blocks."):
        layer = int(name.split(".")[1]) + 1
    else:
        layer = depth + 1
    return decay ** (depth + 1 - layer)


def test_layer_decay_groups_give_each_parameter_the_original_lr_and_decay():
    net = classifier()
    groups = layer_decay_groups(net, lr=1e-3, weight_decay=0.05, layer_decay=0.5)
    names = {id(p): n for n, p in net.named_parameters()}
    seen = set()
    for group in groups:
        for param in group["params"]:
            name = names[id(param)]
            seen.add(name)
            assert group["lr"] == pytest.approx(1e-3 * expected_scale(name, 3, 0.5)), name
            no_decay = param.ndim == 1
            assert group["weight_decay"] == (0.0 if no_decay else 0.05), name
    assert seen == set(names.values())
    # The head trains at the full lr, the embedding at 0.5 ** 4 of it.
    lrs = {names[id(p)]: g["lr"] for g in groups for p in g["params"]}
    assert lrs["head.weight"] == pytest.approx(1e-3)
    assert lrs["patch_embed.proj.weight"] == pytest.approx(1e-3 / 16)
    assert lrs["blocks.2.mlp.fc1.weight"] == pytest.approx(1e-3 / 2)


def clip(i):
    g = torch.Generator().manual_seed(i)
    return torch.randn(3, 4, 32, 32, generator=g)


class Labelled(torch.utils.data.Dataset):
    """Train items with soft targets, or test items with a (video, view) id per row."""

    def __init__(self, test=False):
        self.test = test

    def __len__(self):
        return 8

    def __getitem__(self, i):
        item = {"video": clip(i), "label": i % 3}
        if self.test:
            return {**item, "label": (i // 2) % 3, "video_id": i // 2, "view_id": i % 2}
        return {**item, "target": torch.nn.functional.one_hot(torch.tensor(i % 3), 3).float()}


class DataModule(L.LightningDataModule):
    def train_dataloader(self):
        return DataLoader(Labelled(), batch_size=4)

    def test_dataloader(self):
        return DataLoader(Labelled(test=True), batch_size=3)


def trainer(tmp_path, callbacks=(), **kw):
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=list(callbacks),
        **kw,
    )


class RecordWeights(L.Callback):
    """The head weight after every optimizer step."""

    def __init__(self):
        self.weights = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.weights.append(module.net.head.weight.detach().clone())


def test_the_training_forward_draws_from_its_batch_seed_not_from_the_global_generator():
    module = VideoClassificationModule(classifier(drop_path_rate=0.5, fc_drop_rate=0.5), seed=3)
    module.train()
    video = torch.stack([clip(i) for i in range(4)])  # (4, 3, 4, 32, 32)
    torch.manual_seed(0)
    first = module.training_logits(video, batch_idx=5)
    torch.manual_seed(1)
    held = torch.get_rng_state()
    again = module.training_logits(video, batch_idx=5)
    assert torch.equal(again, first)  # whatever the global generator held before
    assert torch.equal(torch.get_rng_state(), held)  # and put back after
    assert not torch.equal(module.training_logits(video, batch_idx=6), first)
    other_seed = VideoClassificationModule(module.net, seed=4).train()
    assert not torch.equal(other_seed.training_logits(video, batch_idx=5), first)


def test_ema_follows_the_weights_after_each_step(tmp_path):
    torch.manual_seed(0)
    module = VideoClassificationModule(
        classifier(), batch_size=4, base_lr=0.5, ema_decay=0.5, warmup_epochs=0
    )
    start = module.net.head.weight.detach().clone()
    record = RecordWeights()
    trainer(tmp_path, [record], max_epochs=1).fit(module, datamodule=DataModule())
    w1, w2 = record.weights
    assert not torch.equal(w1, start)  # the weights moved
    expected = 0.5 * (0.5 * start + 0.5 * w1) + 0.5 * w2
    assert torch.allclose(module.ema.module.head.weight, expected, atol=1e-7)
    # The averaged weights are tested beside the trained ones.
    trainer(tmp_path).test(module, datamodule=DataModule())
    assert module.test_result["test/num_videos_ema"] == 4
    assert {"test/top1", "test/top1_ema"} <= set(module.test_result)


def test_test_scores_views_per_video_and_checkpoint_rebuilds_the_classifier(tmp_path):
    torch.manual_seed(0)
    net = classifier()
    module = VideoClassificationModule(
        net,
        batch_size=4,
        test_views=2,
        class_names=["a", "b", "c"],
        eval_settings={
            "num_frames": 4,
            "sampling_rate": 2,
            "sampling": "dense",
            "input_size": 32,
            "test_clips": 2,
            "test_crops": 1,
        },
    )
    t = trainer(tmp_path)
    t.test(module, datamodule=DataModule())
    # Plainly: mean of the two views' softmax per video, then top-1 against the labels.
    net.eval()
    with torch.no_grad():
        probs = torch.stack([net(clip(i)[None])[0].softmax(-1) for i in range(8)])
    per_video = probs.view(4, 2, 3).mean(1)
    labels = torch.tensor([0, 1, 2, 0])
    top1 = (per_video.argmax(1) == labels).float().mean().item()
    assert module.test_result["test/top1"] == pytest.approx(top1)
    assert module.test_result["test/num_videos"] == 4
    assert module.test_result["test/num_views"] == 8
    assert torch.allclose(module.test_scores.probs.float(), per_video, atol=1e-6)

    path = tmp_path / "model.ckpt"
    t.save_checkpoint(path)
    loaded = load_checkpoint(path)
    assert loaded.kind == "classifier" and loaded.id2label == {0: "a", 1: "b", 2: "c"}
    rebuilt = build_model(loaded).eval()
    x = clip(0)[None]
    assert torch.allclose(rebuilt(x), net(x), atol=1e-6)


def test_a_uint8_eval_batch_is_normalised_on_the_device():
    module = VideoClassificationModule(classifier()).eval()
    video = torch.randint(
        0, 256, (2, 3, 4, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    worker = torch.stack([normalize(v.permute(1, 0, 2, 3)) for v in video])
    batch = VideoDataModule(train_list=None).on_after_batch_transfer(
        {"video": video, "label": torch.tensor([0, 1])}, 0
    )
    assert torch.equal(batch["video"], worker)
    with torch.no_grad():
        assert torch.equal(module.net(batch["video"]), module.net(worker))
