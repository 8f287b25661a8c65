"""callbacks=pretrain_probe: the online kNN and linear probes log during pretraining, and the
run is the same with and without them (loss, gradients, weights), even where the step draws
from the global generators (drop path, decoder masking)."""

import csv
import re

import pytest
import torch
from clips import write_clip
from PIL import Image
from tiny_runs import train_here, weights, write_clips

pytestmark = pytest.mark.slow

# Both draw from torch's global generator during the step: a probe that consumed from it
# would change the run.
RANDOM_STEP = (
    "model.net.drop_path_rate=0.2",
    "model.decoder_mask_ratio=0.5",
    "trainer.max_epochs=3",
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = write_clips(tmp_path_factory.mktemp("clips"))
    for split, count in (("probe_train", 6), ("probe_val", 4)):
        lines = []
        for k in range(count):
            write_clip(folder / f"{split}{k}.mp4", num_frames=10, size=(48, 32))
            lines.append(f"{split}{k}.mp4 {k % 2}\n")
        (folder / f"{split}.csv").write_text("".join(lines))
    return folder


def probe_args(data):
    return (
        "callbacks=pretrain_probe",
        f"probe.train_list={data / 'probe_train.csv'}",
        f"probe.val_list={data / 'probe_val.csv'}",
        f"probe.root={data}",
        "probe.every_n_epochs=1",
        "probe.linear_head=true",
    )


def losses(run_dir):
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [(r["step"], r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


def test_the_pretraining_run_is_the_same_with_and_without_the_probe(data, tmp_path):
    train_here(data, tmp_path / "plain", *RANDOM_STEP)
    train_here(data, tmp_path / "probed", *RANDOM_STEP, *probe_args(data))
    plain, probed = weights(tmp_path / "plain"), weights(tmp_path / "probed")
    assert plain.keys() == probed.keys()
    assert all(torch.equal(plain[k], probed[k]) for k in plain), [
        k for k in plain if not torch.equal(plain[k], probed[k])
    ]
    assert losses(tmp_path / "plain") == losses(tmp_path / "probed") != []


def test_the_probes_are_logged_and_drawn(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train_here(data, run_dir, "trainer.max_epochs=2", *probe_args(data))
    # Each probe says when it starts (encoding can take minutes) and how long it took.
    out = capsys.readouterr().out
    for epoch in range(3):
        assert f"epoch {epoch}  online probe: encoding 10 videos of the probe lists ..." in out
        assert re.search(
            rf"epoch {epoch}  probe/knn_top1 \d+\.\d%  probe/linear_top1 \d+\.\d%  \(\d+ s\)", out
        )
    with open(run_dir / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    knn = [float(r["probe/knn_top1"]) for r in rows if r.get("probe/knn_top1")]
    linear = [float(r["probe/linear_top1"]) for r in rows if r.get("probe/linear_top1")]
    assert len(knn) == 3 and len(linear) == 3  # before training, then after each epoch
    assert all(v in (0.0, 0.25, 0.5, 0.75, 1.0) for v in knn + linear)  # 4 validation videos
    with Image.open(run_dir / "probe" / "knn_top1.png") as image:
        assert image.width > 300
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    (probe_state,) = [v for k, v in state["callbacks"].items() if "OnlineProbe" in k]
    assert [epoch for epoch, _ in probe_state["history"]["knn_top1"]] == [0, 1, 2]


def test_the_online_head_never_sends_gradients_to_the_encoder(data, tmp_path):
    from videomae_ssl.callbacks.online_probe import OnlineProbe
    from videomae_ssl.models import videomae_pretrain
    from videomae_ssl.probe.features import FeatureSet

    encoder = videomae_pretrain("tiny", img_size=32, patch_size=8, num_frames=4).encoder
    probe = OnlineProbe(
        str(data / "probe_train.csv"), str(data / "probe_val.csv"), linear=True, linear_epochs=2
    )
    probe.num_classes = 2
    # Features that still carry the encoder's graph: the head must not reach through them.
    video = torch.randn(6, 3, 4, 32, 32)
    features = encoder(video).mean(dim=1)
    rows = FeatureSet(
        features, torch.tensor([0, 1] * 3), torch.arange(6), torch.zeros(6, dtype=torch.long)
    )
    probe._linear_top1({"train": rows, "val": rows}, torch.device("cpu"))
    assert all(p.grad is None for p in encoder.parameters())
    assert probe.head is not None and probe.head.head.weight.grad is not None
