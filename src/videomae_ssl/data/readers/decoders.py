"""Video files decoded by decord and by TorchCodec (on the CPU, or on the GPU with NVDEC)."""

from __future__ import annotations

import numpy as np
import torch

from videomae_ssl.data.readers.base import (
    DECODE_DEVICE_KEY,
    VideoDecodeError,
    VideoFile,
    check_header_count,
    check_not_empty,
    describe,
    probe_header,
    require_file,
    scaled_size,
    source,
)
from videomae_ssl.errors import ConfigError


class DecordVideo(VideoFile):
    """decord.VideoReader on one thread (DataLoader workers already run in parallel); with
    `short_side`, decord's own scaler shrinks frames as they are decoded. decord reports only
    the frames it indexed, so the header's count (for the truncation check) and size come from
    one PyAV probe of the container header. With `data` (the file's bytes), decord reads them
    from memory and `path` only names the video in messages.

    decord cannot decode some files that FFmpeg reads (frame sizes such as 48x32 fail inside
    its buffer copy): when decord fails on a file whose header PyAV read, the file is decoded
    with PyAV instead, which returns the same frames, and is an error only if PyAV fails too."""

    def __init__(self, path: str, short_side: int | None = None, data: bytes | None = None) -> None:
        super().__init__(path)
        require_file(path, data)
        import decord

        self._short_side = short_side
        self._data = data
        self._pyav: VideoFile | None = None
        width, height, header_frames = probe_header(path, data)
        size = {}
        if short_side is not None:
            width, height = scaled_size(width, height, short_side)
            size = {"width": width, "height": height}
        try:
            self._reader = decord.VideoReader(
                source(path, data), num_threads=1, ctx=decord.cpu(0), **size
            )
            num_frames = len(self._reader)
        except Exception:
            self._reader = None
            self.num_frames = self._with_pyav().num_frames
            return
        check_header_count(path, header_frames, num_frames)
        self.num_frames = check_not_empty(path, num_frames)

    def _with_pyav(self) -> VideoFile:
        if self._pyav is None:
            from videomae_ssl.data.readers.pyav import PyAVVideo

            self._reader = None
            self._pyav = PyAVVideo(self.path, self._short_side, self._data)
        return self._pyav

    def _read(self, indices: list[int]) -> np.ndarray | torch.Tensor:
        if self._reader is not None:
            try:
                return self._reader.get_batch(indices).asnumpy()  # (T, H, W, 3)
            except Exception:
                pass  # decoded by PyAV below
        return self._with_pyav().read(indices)

    def close(self) -> None:
        # decord frees its decoder only when the reader is garbage collected.
        self._reader = None
        if self._pyav is not None:
            self._pyav.close()


class TorchCodecVideo(VideoFile):
    """TorchCodec's VideoDecoder (exact seeking, one FFmpeg thread); with `short_side` its
    Resize transform scales inside FFmpeg's filter graph, before the RGB tensor is built. With
    `device="cuda"` it decodes with NVDEC and the frames stay on the GPU; a decoder that would
    fall back to the CPU is a ConfigError naming `data.decode_device`. With `data` (the file's
    bytes) the decoder reads them from memory and `path` only names the video in messages."""

    def __init__(
        self,
        path: str,
        short_side: int | None = None,
        device: str = "cpu",
        data: bytes | None = None,
    ) -> None:
        super().__init__(path)
        require_file(path, data)
        encoded = path if data is None else data  # VideoDecoder takes a path or the bytes
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize

        self.device = device
        try:
            transforms = None
            if short_side is not None:
                # Header-only metadata; its size is after any rotation, as decoded frames are.
                meta = VideoDecoder(encoded, seek_mode="approximate").metadata
                width, height = scaled_size(meta.width, meta.height, short_side)
                if (width, height) != (meta.width, meta.height):
                    transforms = [Resize((height, width))]
            self._decoder = VideoDecoder(
                encoded,
                dimension_order="NHWC",
                num_ffmpeg_threads=1,
                transforms=transforms,
                device=device,
            )
            # Exact mode scans the packets: num_frames is what the scan indexed, and the header's
            # count (FFmpeg's nb_frames, PyAV's `stream.frames`) comes with it, no probe needed.
            metadata = self._decoder.metadata
            num_frames = metadata.num_frames or 0
            header_frames = metadata.num_frames_from_header or 0
        except Exception as err:
            raise VideoDecodeError(f"{path}: cannot open video ({describe(err)})") from err
        if device != "cpu":
            fallback = getattr(self._decoder, "cpu_fallback", None)
            if fallback:  # NVDEC is missing or cannot decode this codec: a setting, not the file
                raise ConfigError(
                    f"{DECODE_DEVICE_KEY}={device}: TorchCodec cannot decode {path} with NVDEC "
                    f"({fallback}); use FFmpeg and a driver with NVDEC for this codec, or set "
                    f"{DECODE_DEVICE_KEY}=cpu."
                )
        check_header_count(path, header_frames, num_frames)
        self.num_frames = check_not_empty(path, num_frames)

    def _read(self, indices: list[int]) -> np.ndarray | torch.Tensor:
        frames = self._decoder.get_frames_at(indices).data  # (T, H, W, 3)
        return frames if self.device != "cpu" else frames.numpy()

    def close(self) -> None:
        self._decoder = None
