"""Does a listed video decode? `check_decodes` is the one check behind the dataset scan
(`python -m videomae_ssl.prep.scan`) and the evaluation check before a run (`probe_records`,
which `VideoDataModule.validate_inputs` runs), so both judge a video the same way.

A video passes when it opens and the frames asked for decode. Its size never fails it: a static
low-bitrate clip can be a few KB. Size is only a hint beside a failure: broken Kinetics
downloads are 0-9 KB, so the reason of a smaller failing file says how small it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.quarantine import LoaderDataError
from videomae_ssl.data.readers import VideoDecodeError, VideoFile
from videomae_ssl.errors import UserInputError

SMALL_FILE_BYTES = 10 * 1024  # a failing file smaller than this has its size in the reason
PROGRESS_FROM = 200  # evaluation lists at least this long show a progress bar


@dataclass(frozen=True)
class DecodeCheck:
    """What opening a video and decoding some of its frames showed. `error` is "" when they
    decoded; `frames` is the frame count (None when it did not open), `width` and `height` the
    size of the decoded frames (None when none decoded)."""

    error: str = ""
    frames: int | None = None
    width: int | None = None
    height: int | None = None


def first_and_last(num_frames: int) -> list[int]:
    """The frames the scan decodes: a truncated file usually loses its last ones."""
    return [0, num_frames - 1]


def decode_reason(err: BaseException | str, path: str) -> str:
    """An error's message without the leading '<path>: ' readers put there, on one line (fit
    for a TSV field)."""
    text = str(err)
    if text.startswith(f"{path}: "):
        text = text[len(path) + 2 :]
    return " ".join(text.split())


def _with_size_hint(reason: str, record: VideoRecord) -> str:
    """`reason`, with the file's size when it is small enough to explain the failure."""
    if record.is_frames:
        return reason
    try:
        size = os.path.getsize(record.path)
    except OSError:
        return reason
    if size >= SMALL_FILE_BYTES:
        return reason
    return f"{reason} (the file is only {size} bytes)"


def check_decodes(
    record: VideoRecord,
    opener: Callable[[VideoRecord], VideoFile],
    frames: Callable[[int], Sequence[int]] = first_and_last,
) -> DecodeCheck:
    """Open `record` with `opener` and decode the frames `frames(num_frames)` names.

    Any failure of the video (the reader's VideoDecodeError, or a decoder raising something the
    reader did not expect) is reported in the result; a UserInputError that is not about this
    video (a bad setting such as the frame template) is raised.
    """
    count = None
    try:
        with opener(record) as video:  # opening reads the header and the frame count
            count = video.num_frames
            if count < 1:
                return DecodeCheck("video has no frames", frames=count)
            clip = video.read(list(frames(count)))  # (T, H, W, 3)
    except VideoDecodeError as err:
        return DecodeCheck(_with_size_hint(decode_reason(err, record.path), record), count)
    except UserInputError:
        raise  # a setting, not this video
    except Exception as err:  # a decoder failing in a way the reader did not expect
        first = (str(err).strip().splitlines() or [""])[0]
        reason = decode_reason(f"{type(err).__name__}: {first}", record.path)
        return DecodeCheck(_with_size_hint(reason, record), count)
    return DecodeCheck(frames=count, width=int(clip.shape[2]), height=int(clip.shape[1]))


class _Probe(Dataset):
    """Checks one record per item with `check_decodes` (decoding the frames
    `frames(num_frames)` names) and reports (row, error or "")."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        opener: Callable[[VideoRecord], VideoFile],
        frames: Callable[[int], Sequence[int]] = first_and_last,
    ) -> None:
        self.records = records
        self.opener = opener
        self.frames = frames

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, row: int) -> tuple[int, str]:
        try:
            return row, check_decodes(self.records[row], self.opener, self.frames).error
        except UserInputError as err:  # a setting, not this video: keep the message clean
            raise LoaderDataError(str(err)) from err


def _keep(item: tuple[int, str]) -> tuple[int, str]:
    return item


def probe_records(
    records: Sequence[VideoRecord],
    opener: Callable[[VideoRecord], VideoFile],
    *,
    frames: Callable[[int], Sequence[int]] = first_and_last,
    num_workers: int = 0,
    desc: str = "Checking videos",
    progress: bool = True,
) -> list[tuple[int, str]]:
    """Open every record and decode the frames `frames(num_frames)` lists -> [(row, error)]
    of those that fail, in list order.

    Runs in DataLoader workers when `num_workers` > 0, so the main process never holds a
    reader when the training workers fork; with `progress`, lists of `PROGRESS_FROM` or more
    show a bar (the caller turns it off on all but one process). The workers' seeds come from
    a generator of their own: checking the data leaves the global ones, and so the model's
    initialisation, as they were.
    """
    loader = DataLoader(
        _Probe(records, opener, frames),
        batch_size=None,
        num_workers=min(num_workers, len(records)),
        collate_fn=_keep,
        generator=torch.Generator().manual_seed(0),
    )
    show = progress and len(records) >= PROGRESS_FROM
    bad = [
        (row, error)
        for row, error in tqdm(
            loader, total=len(records), desc=desc, unit="video", disable=not show
        )
        if error
    ]
    return sorted(bad)
