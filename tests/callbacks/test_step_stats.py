"""StepStats and StepLine on a one-layer model trained in this process: the data-wait share
follows the loader's speed, the gradient norm is the one computed by hand before clipping, and
the progress line comes every N optimizer steps; the epoch line after a resume times only the
resumed part."""

import re
import time

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, Dataset

from videomae_ssl.callbacks.progress import EpochLine, StepLine
from videomae_ssl.callbacks.step_stats import StepStats

X = torch.tensor([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]])  # (B, 3)
Y = torch.tensor([[4.0], [-2.0]])  # (B, 1)


class Pairs(Dataset):
    """The rows of X and Y, `size` times over; each item takes `delay` seconds to load."""

    def __init__(self, size: int, delay: float = 0.0) -> None:
        self.size, self.delay = size, delay

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        time.sleep(self.delay)
        return {"video": X[index % 2], "target": Y[index % 2]}


class Linear(L.LightningModule):
    """y = w x + b under the mean squared error; each step takes at least `step_time` s."""

    def __init__(self, step_time: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Linear(3, 1)
        self.step_time = step_time

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        time.sleep(self.step_time)
        loss = nn.functional.mse_loss(self.net(batch["video"]), batch["target"])
        self.log("train/loss", loss)
        self.log("lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(module, callbacks, steps, delay=0.0, **trainer_args) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        **trainer_args,
    )
    loader = DataLoader(Pairs(2 * steps * trainer.accumulate_grad_batches, delay), batch_size=2)
    trainer.fit(module, loader)
    return trainer


def test_the_data_wait_share_is_high_with_a_slow_loader_and_low_with_a_fast_one():
    # Both steps compute for at least 20 ms; the slow loader takes at least 200 ms per batch.
    slow = fit(Linear(step_time=0.02), [StepStats()], steps=4, delay=0.1).callback_metrics
    fast = fit(Linear(step_time=0.02), [StepStats()], steps=4).callback_metrics
    assert 0.5 < float(slow["perf/data_wait"]) <= 1.0
    assert 0.0 <= float(fast["perf/data_wait"]) < 0.5
    assert float(slow["perf/clips_per_s"]) < float(fast["perf/clips_per_s"])
    assert "perf/peak_memory_gib" not in fast  # CPU: no GPU memory to report


def test_the_logged_gradient_norm_is_the_total_l2_norm_before_clipping():
    torch.manual_seed(0)
    module = Linear()
    w, b = module.net.weight.detach().clone(), module.net.bias.detach().clone()
    trainer = fit(module, [StepStats()], steps=1, gradient_clip_val=1e-3)
    # d/dw mean((Xw + b - y)^2) = 2 X^T r / B and d/db = 2 sum(r) / B, r the residuals.
    r = X @ w.T + b - Y  # (B, 1)
    grad_w, grad_b = 2 * X.T @ r / len(X), 2 * r.sum() / len(X)
    expected = torch.sqrt((grad_w**2).sum() + grad_b**2)
    assert expected > 1.0  # far above the clipping threshold
    torch.testing.assert_close(trainer.callback_metrics["train/grad_norm"], expected)


@pytest.mark.parametrize("accumulate", [1, 2])
def test_the_progress_line_comes_every_n_steps(capsys, accumulate):
    fit(
        Linear(),
        [StepStats(), StepLine(every_n_steps=3)],
        steps=7,
        accumulate_grad_batches=accumulate,
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["3/7", "6/7"]
    pattern = r"step 3/7  loss \d+\.\d{4}  lr 1\.00e-02  \d+\.\d clips/s  data \d+%  ETA \d+:\d\d"
    assert re.fullmatch(pattern, lines[0]), lines[0]


def test_the_epoch_line_after_a_mid_epoch_resume_times_the_resumed_part(tmp_path, capsys):
    def trainer(**args) -> L.Trainer:
        return L.Trainer(
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
            **args,
        )

    loader = DataLoader(Pairs(8), batch_size=2)  # 4 steps an epoch
    saver = ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=2)
    trainer(max_steps=2, callbacks=[saver]).fit(Linear(), loader)  # stops mid-epoch
    capsys.readouterr()
    start = time.monotonic()
    trainer(max_epochs=2, callbacks=[EpochLine()]).fit(
        Linear(), loader, ckpt_path=saver.last_model_path
    )
    elapsed = time.monotonic() - start
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    first = re.fullmatch(r"epoch 1/2  .*\((\d+) s, resumed mid-epoch\)", lines[0])
    assert first and int(first[1]) <= elapsed + 1, lines  # not the time since some other moment
    assert re.fullmatch(r"epoch 2/2  .*\(\d+ s\)", lines[1]), lines
