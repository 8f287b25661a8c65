"""logger=wandb without a key or a network (WANDB_MODE=offline): the run's files are written in
the run folder, the reconstruction pictures among them, and a job started again in the same
folder (run_name=... resume=auto) continues the same wandb run."""

import pytest
import wandb
from PIL import Image
from tiny_runs import train_here, write_clips

from videomae_ssl.run_resolvers import wandb_id

pytestmark = pytest.mark.slow


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb_home"))
    yield
    wandb.finish()


def test_an_offline_run_writes_its_files_and_a_resumed_job_continues_the_same_run(
    offline, tmp_path
):
    data = write_clips(tmp_path / "clips", count=4)
    run = tmp_path / "outputs" / "job"
    common = (
        "logger=wandb",
        f"data.val_list={data / 'train.csv'}",
        "trainer.limit_val_batches=1",
        f"callbacks.reconstruction_grid={{_target_: videomae_ssl.callbacks.reconstruction."
        f"ReconstructionGrid, dirpath: {run / 'reconstructions'}, num_clips: 2}}",
        "resume=auto",
    )
    train_here(data, run, *common)
    wandb.finish()
    train_here(data, run, *common, "trainer.max_epochs=2")  # the job started again
    wandb.finish()

    # Each start writes a folder of its own; the run id in their records is the same.
    starts = sorted((run / "wandb").glob("offline-run-*"))
    assert len(starts) == 2
    run_id = wandb_id(str(run))
    for start in starts:
        assert start.name.endswith(f"-{run_id}") and (start / f"run-{run_id}.wandb").is_file()
    # The first validation's reconstruction picture, under its logged key.
    pictures = list((starts[0] / "files" / "media" / "images" / "val").glob("reconstruction_*.png"))
    assert len(pictures) == 1 and Image.open(pictures[0]).height > 0
