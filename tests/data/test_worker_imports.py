"""What DataLoader and scan workers import loads without Lightning: each worker process pays
for every module it imports, and the readers promise to be usable outside a Lightning run."""

import subprocess
import sys

WORKER_PATH = [
    "videomae_ssl.data.annotations",
    "videomae_ssl.data.readers",
    "videomae_ssl.data.frame_indices",
    "videomae_ssl.data.transforms",
    "videomae_ssl.data.views",
    "videomae_ssl.data.augment",
    "videomae_ssl.data.epoch_sampler",
    "videomae_ssl.data.quarantine",
    "videomae_ssl.data.video_check",
    "videomae_ssl.data.clip_dataset",
    "videomae_ssl.data.pretrain_dataset",
    "videomae_ssl.data.finetune_dataset",
    "videomae_ssl.data.workers",
]
LIGHTNING = ("lightning", "pytorch_lightning", "lightning_fabric")

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from videomae_ssl.data.finetune_dataset import VideoClassificationDataset
from videomae_ssl.data.pretrain_dataset import VideoPretrainDataset
from videomae_ssl.data.readers import open_record
print(",".join(name for name in {lightning!r} if name in sys.modules))
"""


def test_the_worker_path_loads_without_lightning():
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(lightning=LIGHTNING), *WORKER_PATH],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported: {done.stdout.strip()}"
