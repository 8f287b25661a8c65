"""One home for what the LightningModules' optimizer setup shares (optim.setup), and batch
preparation in the data module, beside its batch hook before the transfer."""

import ast
from pathlib import Path

import pytest
import torch

import videomae_ssl.lightning as lightning_package
from videomae_ssl.optim.schedules import warmup_cosine
from videomae_ssl.optim.setup import lr_plan, optimizer_with_schedule

MODULES = sorted(Path(lightning_package.__file__).parent.glob("*.py"))


class FakeTrainer:
    world_size, num_devices, num_nodes = 4, 2, 2
    accumulate_grad_batches = 2
    estimated_stepping_batches = 100
    num_training_batches = 20


def test_the_plan_scales_by_the_effective_batch_and_counts_warmup_steps():
    plan = lr_plan(FakeTrainer(), 8, 1e-3, 1e-6, 1e-7, warmup_epochs=2.5)
    assert plan.batch == 8 * 4 * 2
    assert (plan.lr, plan.min_lr, plan.warmup_lr) == pytest.approx(
        (64e-3 / 256 * 1, 64e-6 / 256, 64e-7 / 256)
    )
    assert (plan.total_steps, plan.warmup_steps) == (100, 25)  # 10 steps per epoch
    assert lr_plan(FakeTrainer(), 8, 1e-3, 0, 0, 20).warmup_steps == 100  # at most all of them
    assert lr_plan(FakeTrainer(), 8, 1e-3, 0, 0, 0, scaled=False).lr == 1e-3
    assert "Effective batch 64 videos = 8 per device x 2 devices x 2 nodes x 2 accumulation" in (
        plan.batch_line(FakeTrainer(), 8)
    )


def test_the_schedule_steps_the_warmup_cosine_of_the_plan():
    plan = lr_plan(FakeTrainer(), 8, 1e-3, 1e-6, 1e-7, warmup_epochs=2.5)
    param = torch.nn.Parameter(torch.zeros(1))
    setup = optimizer_with_schedule(torch.optim.SGD, [{"params": [param]}], plan)
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    assert setup["lr_scheduler"]["interval"] == "step"
    for step in range(100):
        want = warmup_cosine(step, 100, 25, plan.lr, plan.min_lr, plan.warmup_lr)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(want)
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_module_copies_the_optimizer_setup_or_the_batch_preparation(path):
    tree = ast.parse(path.read_text())
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert not {"effective_batch", "on_after_batch_transfer"} & defined
    assert "estimated_stepping_batches" not in path.read_text()  # counted in optim.setup


def test_the_data_module_prepares_the_batch_on_the_device():
    from videomae_ssl.data.datamodules import VideoDataModule

    video = torch.randint(0, 256, (1, 3, 2, 4, 4), dtype=torch.uint8)
    batch = VideoDataModule(train_list=None).on_after_batch_transfer({"video": video}, 0)
    assert batch["video"].dtype == torch.float32
