"""LightningModule for VideoMAE pretraining: glue between batch, model, targets and loss."""

from __future__ import annotations

from functools import partial
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from videomae_ssl.errors import ConfigError
from videomae_ssl.lightning.guard import NonFiniteLoss
from videomae_ssl.lightning.step_log import finish_training_step
from videomae_ssl.loss import PixelTarget, reconstruction_loss
from videomae_ssl.loss.feature_targets import TeacherTarget
from videomae_ssl.loss.hog import HOGTarget
from videomae_ssl.masking import TokenIndices, check_decoder_ratio, mask_to_indices, token_indices
from videomae_ssl.models import VideoMAEPretrainModel
from videomae_ssl.models.build import model_record
from videomae_ssl.optim.param_groups import weight_decay_groups
from videomae_ssl.optim.setup import OptimizerFactory, lr_plan, optimizer_with_schedule
from videomae_ssl.seeding import seeded_global_rngs, step_seed

# The paper's total batch for ViT-B; far smaller effective batches are a known cause of
# weaker results, so runs below it say so at start.
PAPER_BATCH = 2048

# The paper's optimizer: AdamW with beta2 0.95 (learning rate and weight decay set per group).
ADAMW_PRETRAIN: OptimizerFactory = partial(torch.optim.AdamW, betas=(0.9, 0.95))


class VideoMAEPretrainModule(L.LightningModule):
    """Masked video pretraining.

    Batches are dicts from the data module: `video` (B, C, T, H, W), normalised on the device
    by the data module's `on_after_batch_transfer`, `mask` Bool[B, N] with
    True = hidden, its token indices `ids_visible` (B, N_vis) and `ids_masked` (B, N_mask), and
    optionally `broken_total`, the number of distinct broken training videos met so far, logged
    as `data/broken`. Learning rates are given per 256 videos and scaled by the effective batch
    of videos, `batch_size` (videos per device) x devices x nodes x accumulation, as the
    original; with repeated sampling (`views_per_video` clips per video) the step sees more
    clips but the same lr, as in VideoMAE V2.

    `decoder_mask_ratio` > 0 turns on VideoMAE V2's decoder masking in training: a running-cell
    mask (random phase per clip) picks the tokens the decoder reconstructs and the loss covers
    the encoder-masked ones among them. The module never draws it: training batches carry it,
    drawn by the data path from each clip's own stream (`ids_decoded` and `decoded_loss`), or,
    in a batch built by hand, as `decoder_mask` Bool[B, N] (True = not reconstructed). The ratio
    is checked against the model's token grid here, once. Validation always reconstructs every
    masked token, so its loss compares across settings.

    Stochastic depth (`net`'s drop path) draws from a seed per training batch, made from `seed`
    and the batch's epoch, index and rank (`seeding.step_seed`), so a resumed run draws what
    the uninterrupted run drew.

    `target` computes what the decoder predicts for its tokens (`target=pixel|hog|teacher`):
    None is the pixel target with `norm_pix_loss`; its width must be the decoder's output
    (`model.net.decoder_out_dim`, which the target config sets). A `TeacherTarget` (MVD) has
    one width per teacher, the net one decoder per teacher (`net.decoder_dims`); its frozen
    teachers are not submodules (neither trained nor saved) and follow the module's device;
    checkpoints record their files and hashes, and a resumed run checks them.
    """

    def __init__(
        self,
        net: VideoMAEPretrainModel,
        optimizer: OptimizerFactory = ADAMW_PRETRAIN,
        batch_size: int = 32,
        views_per_video: int = 1,
        base_lr: float = 1.5e-4,
        min_lr: float = 1e-5,
        warmup_lr: float = 1e-6,
        warmup_epochs: float = 40,
        weight_decay: float = 0.05,
        norm_pix_loss: bool = True,
        decoder_mask_ratio: float = 0.0,
        max_non_finite_steps: int = 10,
        target: PixelTarget | HOGTarget | TeacherTarget | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer", "target"])
        self.net = net
        self.optimizer_factory = optimizer
        self.non_finite = NonFiniteLoss(max_non_finite_steps)
        check_decoder_ratio(decoder_mask_ratio, net.grid, key="model.decoder_mask_ratio")
        self.decoder_masking = bool(decoder_mask_ratio)
        self.target = PixelTarget(norm_pix_loss) if target is None else target
        if isinstance(self.target, TeacherTarget):
            check_teacher_decoders(self.target, net)
            return
        width = self.target.dim(net.patch_size, net.tubelet_size, net.config.in_chans)
        if width != net.decoder_out_dim:
            raise ConfigError(
                f"model.net.decoder_out_dim={net.decoder_out_dim}: the target "
                f"({type(self.target).__name__}) has {width} values per token; the target "
                "config sets model.net.decoder_out_dim to match (null for pixels)."
            )

    @property
    def encoder(self) -> torch.nn.Module:
        """What `pretrained=<checkpoint>` initialises: the encoder (the decoder starts fresh)."""
        return self.net.encoder

    def token_indices(self, batch: dict[str, torch.Tensor]) -> TokenIndices:
        """The step's token indices, read from the device by no one: the encoder's from the
        batch ("ids_visible", "ids_masked"), and in training with decoder masking the
        decoder's ("ids_decoded", "decoded_loss"), all drawn by the data path on the host from
        each clip's own stream, so a resumed run draws them again. A batch built by hand has
        the encoder's computed from its "mask" (reading the count back once) and the decoder's
        from its "decoder_mask"; the module draws no mask itself."""
        mask = batch["mask"]  # Bool[B, N]
        if "ids_visible" in batch:
            visible, masked = batch["ids_visible"], batch["ids_masked"]  # (B, N_vis), (B, N_mask)
        else:
            visible, masked = mask_to_indices(mask)
        if not self.decoder_masking or not self.training:
            return TokenIndices(visible, masked)
        if "ids_decoded" in batch:
            return TokenIndices(visible, batch["ids_decoded"], batch["decoded_loss"])
        if "decoder_mask" in batch:
            return token_indices(mask, batch["decoder_mask"])  # decoder_mask: Bool[B, N]
        raise ValueError(
            f"decoder_mask_ratio={self.hparams.decoder_mask_ratio}: a training batch must carry "
            "its decoder mask, as 'ids_decoded' and 'decoded_loss' (what PretrainDataModule "
            "draws with a decoder_mask_generator) or as 'decoder_mask' Bool[B, N]; this one has "
            f"{', '.join(sorted(batch))}."
        )

    def shared_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        video = batch["video"]
        ids = self.token_indices(batch)  # once per step: the model and target share it
        if isinstance(self.target, TeacherTarget):
            return self.teacher_step(video, ids)
        pred = self.net(video, ids)  # (B, K, P)
        target = self.target(
            video, self.net.patch_size, self.net.tubelet_size, ids.decoded
        )  # (B, K, P)
        return reconstruction_loss(pred, target, ids.loss_mask), pred

    def teacher_step(
        self, video: torch.Tensor, ids: TokenIndices
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """MVD: each decoder against its teacher's features of the decoded tokens; the weighted
        sum is the loss, each teacher's own loss is logged as `<stage>/loss_<role>`."""
        preds = self.net.forward_decoders(video, ids)  # [(B, K, D_i)]
        targets = self.target.features(video, ids.decoded)  # [(B, K, D_i)]
        loss, parts = self.target.loss(preds, targets, ids.loss_mask)
        stage = "train" if self.training else "val"
        for role, value in parts.items() if self._trainer is not None else ():
            self.log(f"{stage}/loss_{role}", value, batch_size=video.shape[0], sync_dist=True)
        return loss, preds[0]

    def place_target(self) -> None:
        """The teachers on the module's device (they are not submodules, so Lightning does not
        move them)."""
        if isinstance(self.target, TeacherTarget):
            self.target.to(self.device)

    def on_fit_start(self) -> None:
        self.place_target()

    def on_validation_start(self) -> None:
        self.place_target()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        # Stochastic depth (model.net.drop_path_rate) draws from the batch's own seed, as in
        # fine-tuning: a resumed run draws what the uninterrupted one drew. The masks come
        # from the data path and draw nothing here.
        seed = step_seed(self.hparams.seed, self.current_epoch, batch_idx, self.global_rank)
        with seeded_global_rngs(seed, self.device):
            loss, _ = self.shared_step(batch)
        lr = self.optimizers().param_groups[0]["lr"]
        return finish_training_step(self, self.non_finite, loss, batch, lr)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self.shared_step(batch)
        self.log(
            "val/loss", loss, prog_bar=True, sync_dist=True, batch_size=batch["video"].shape[0]
        )
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        hp, t = self.hparams, self.trainer
        plan = lr_plan(t, hp.batch_size, hp.base_lr, hp.min_lr, hp.warmup_lr, hp.warmup_epochs)
        views = hp.views_per_video
        clips = f" ({plan.batch * views} clips: {views} views per video)" if views > 1 else ""
        rank_zero_info(
            f"{plan.batch_line(t, hp.batch_size)}{clips}; lr {plan.lr:.3g} = base_lr "
            f"{hp.base_lr:g} x {plan.batch} / 256 (min_lr {plan.min_lr:.3g}); "
            f"{plan.total_steps} steps, {plan.warmup_steps} warmup."
        )
        if plan.batch < PAPER_BATCH // 4:
            rank_zero_info(
                f"Note: the paper pretrains with an effective batch of {PAPER_BATCH}; results are "
                f"known to drop when it is much smaller."
            )
        groups = weight_decay_groups(self.net, hp.weight_decay)
        return optimizer_with_schedule(self.optimizer_factory, groups, plan)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Enough to rebuild the network without Hydra (see videomae_ssl.checkpoints).
        checkpoint["videomae_ssl"] = model_record(self.net)
        if isinstance(self.target, TeacherTarget):
            checkpoint["videomae_ssl"]["teachers"] = self.target.records()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A resumed run reloads its teachers from the config: they must be the files it began
        # with, else the run would continue towards other targets.
        if isinstance(self.target, TeacherTarget):
            saved = (checkpoint.get("videomae_ssl") or {}).get("teachers")
            check_same_teachers(saved, self.target.records())


def check_teacher_decoders(target: TeacherTarget, net: VideoMAEPretrainModel) -> None:
    """A ConfigError unless the net has one decoder per teacher, of its feature width."""
    if tuple(net.decoder_dims) != target.dims:
        roles = ", ".join(f"{t.role} {t.dim}" for t in target.teachers)
        raise ConfigError(
            f"target=teacher: the teachers' features are {roles} wide, the net's decoders "
            f"predict {', '.join(map(str, net.decoder_dims))}; build the module with "
            "videomae_ssl.stages.teachers (it sizes model.net.decoder_out_dim and "
            "extra_decoder_dims from the teachers)."
        )


def check_same_teachers(saved: list[dict[str, Any]] | None, now: list[dict[str, Any]]) -> None:
    """A ConfigError when the checkpoint was trained with other teacher files than `now`."""
    if saved is None:
        raise ConfigError(
            "target=teacher: the checkpoint to resume was not trained with teachers; resume it "
            "with its own target, or start a new run."
        )
    before = {r["role"]: r for r in saved}
    for record in now:
        old = before.get(record["role"])
        if old is None or old["sha256"] != record["sha256"]:
            was = f"{old['file']} (sha256 {old['sha256'][:12]})" if old else "no such teacher"
            raise ConfigError(
                f"target.{record['role']}_teacher={record['file']} (sha256 "
                f"{record['sha256'][:12]}): the run to resume was trained with {was}; resume "
                "with the same teacher file."
            )
    if len(before) != len(now):
        raise ConfigError(
            f"target=teacher: the run to resume was trained with the {', '.join(before)} "
            f"teacher(s), this config sets {', '.join(r['role'] for r in now)}."
        )
