"""The training command on a tiny model and a few small clips, in a subprocess: for the runs
that need real processes (DDP on the CPU, a job killed and restarted). A step takes
milliseconds; starting Python and Lightning takes most of a run's few seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import torch
from clips import write_clip

TESTS = Path(__file__).resolve().parent


def write_clips(folder: Path, count: int = 8, broken: tuple[int, ...] = ()) -> Path:
    """`count` short clips (rows in `broken` are files that do not decode) and train.csv."""
    videos = folder / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        if k in broken:
            (videos / f"c{k}.mp4").write_text("not a video\n")
        else:
            write_clip(videos / f"c{k}.mp4", num_frames=12, size=(48, 32))
    (folder / "train.csv").write_text("".join(f"videos/c{k}.mp4 0\n" for k in range(count)))
    return folder


# The one-block pretraining model: VideoMAE's autoencoder, no reconstruction pictures.
PRETRAIN = (
    "data=kinetics400",
    "+model.net.embed_dim=32",
    "+model.net.depth=1",
    "+model.net.num_heads=2",
    "+model.net.decoder_embed_dim=16",
    "+model.net.decoder_depth=1",
    "+model.net.decoder_num_heads=2",
    "callbacks.reconstruction_grid=null",
)
# The two-block classifier of Kinetics-400's fine-tuning recipe (Mixup/CutMix, stochastic depth
# in the second block) on two classes, no test after fitting.
FINETUNE = (
    "experiment=k400_finetune",
    "data.class_names=null",
    "data.num_classes=2",
    "data.test_list=null",
    "test_after_fit=false",
    "+model.net.embed_dim=32",
    "+model.net.depth=2",
    "+model.net.num_heads=2",
)
TASKS = {"pretrain": PRETRAIN, "finetune": FINETUNE}


def overrides(data: Path, run_dir: Path, *extra: str, task: str = "pretrain") -> list[str]:
    """A tiny model (`task`: "pretrain" or "finetune") on 4 frames of 32 px, no validation, a
    log line per step."""
    return [
        *TASKS[task],
        "trainer=cpu",
        f"data.train_list={data / 'train.csv'}",
        "data.val_list=null",
        f"data.root={data}",
        "data.num_frames=4",
        "data.sampling_rate=2",
        "data.input_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        "data.pin_memory=false",
        "data.backend=pyav",
        "model.net.size=tiny",
        "model.net.patch_size=8",
        "optim.warmup_epochs=0",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def train(data: Path, run_dir: Path, *extra: str, timeout: float = 120, task: str = "pretrain"):
    """Run the command; on timeout its whole process group (DDP ranks included) is killed and
    the result has returncode None."""
    return run_train_command(overrides(data, run_dir, *extra, task=task), run_dir, timeout)


def run_train_command(args: list[str], run_dir: Path, timeout: float = 120):
    """`python -m videomae_ssl.train *args` from `run_dir`'s parent, with the tests' folder on
    the path; on timeout its whole process group is killed and the returncode is None."""
    # The tests' folder first, then the caller's PYTHONPATH (a checkout's src/ under test).
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    command = [sys.executable, "-m", "videomae_ssl.train", *args]
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with subprocess.Popen(
        command,
        cwd=run_dir.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return subprocess.CompletedProcess(command, None, out, err)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ckpt["state_dict"]


class KillAtStep(L.Callback):
    """Ends the process with SIGKILL (no cleanup, as a preempted node) when a training batch
    starts at optimizer step `step`."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def train_here(data: Path, run_dir: Path, *extra: str, task: str = "pretrain") -> dict:
    """The same run in this process (no Python start-up to pay): `videomae_ssl.stages.fit.run` on
    the composed config, without Hydra's run folder and logging."""
    from hydra import compose, initialize_config_dir

    from videomae_ssl.stages.fit import run
    from videomae_ssl.train import CONFIG_DIR

    args = [o for o in overrides(data, run_dir, *extra, task=task) if not o.startswith("hydra.")]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[*args, f"paths.root_dir={run_dir.parent}", f"paths.output_dir={run_dir}"],
        )
    return run(cfg)
