"""How listed videos are opened and decoded, as one value that data modules, datasets and the
evaluation check share instead of four settings passed along one by one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.readers import (
    FRAME_TEMPLATE,
    VideoFile,
    check_decode_device,
    check_skip_loop_filter,
    open_record,
    resolve_backend,
)
from videomae_ssl.errors import ConfigError


@dataclass(frozen=True)
class DecodeOptions:
    """`backend` (auto, decord, torchcodec, pyav), `frame_template` (the file names of folders
    of frames), `short_side` (decode at this short side, None: full size) and `device` ("cpu",
    or "cuda": TorchCodec with NVDEC) and `skip_loop_filter` (PyAV only: decode H.264 without
    its deblocking filter, faster but not the same pixels). The config keys are `data.backend`,
    `data.frame_template`, `data.short_side`, `data.decode_device` and
    `data.decode_skip_loop_filter`."""

    backend: str = "auto"
    frame_template: str = FRAME_TEMPLATE
    short_side: int | None = None
    device: str = "cpu"
    skip_loop_filter: bool = False

    def check(self) -> None:
        """ConfigError naming the key of a setting no file can fix."""
        backend = resolve_backend(self.backend, key="data.backend")
        check_decode_device(self.device, backend)
        check_skip_loop_filter(self.skip_loop_filter, backend)
        if self.short_side is not None and (
            isinstance(self.short_side, bool)
            or not isinstance(self.short_side, int)
            or self.short_side < 1
        ):
            raise ConfigError(
                f"data.short_side={self.short_side} must be a positive pixel count, or null to "
                f"decode at full size."
            )
        try:
            distinct = self.frame_template.format(1) != self.frame_template.format(2)
        except (IndexError, KeyError, ValueError):
            distinct = False
        if not distinct:
            raise ConfigError(
                f"data.frame_template={self.frame_template!r} must name frame files by one "
                f"integer field, e.g. 'img_{{:05d}}.jpg' for img_00001.jpg."
            )

    def resolved(self) -> DecodeOptions:
        """The same options with "auto" replaced by the backend it picks (once, in the main
        process, so that every worker uses the same one) and the device checked."""
        backend = resolve_backend(self.backend)
        return replace(self, backend=backend, device=check_decode_device(self.device, backend))

    @property
    def on_gpu(self) -> bool:
        return self.device != "cpu"

    def open(
        self,
        record: VideoRecord,
        data: bytes | Sequence[bytes] | None = None,
        motion_vectors: bool = False,
    ) -> VideoFile:
        """Open what an annotation line points at, or with `data` its bytes in memory; with
        `motion_vectors` a video file is decoded by PyAV with its motion vectors (see
        `readers.open_record`)."""
        return open_record(
            record,
            self.backend,
            frame_template=self.frame_template,
            short_side=self.short_side,
            device=self.device,
            data=data,
            skip_loop_filter=self.skip_loop_filter,
            motion_vectors=motion_vectors,
        )
