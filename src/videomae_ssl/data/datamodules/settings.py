"""The settings every data module takes, in a few typed groups, and the checks of those no file
can fix (run before anything is read; each error names its config key).

The configs keep one flat node per data module (`data.batch_size`, `data.num_frames`,
`data.backend`, ...), so that command-line overrides stay short; `group_keys` sorts those keys
into the groups: `ListSettings` (which videos), `ClipSettings` (what a sample is),
`LoaderSettings` (batches, workers, seed), `BrokenVideoSettings` (the broken-video policy),
`DecodeOptions` (how videos are opened) and `StreamOptions` (packed shards instead of files).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from videomae_ssl.data.datamodules.streams import StreamOptions
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.quarantine import EVAL_BROKEN_KEY, EVAL_BROKEN_MODES, MAX_BROKEN_KEY
from videomae_ssl.errors import ConfigError


def _path(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class ListSettings:
    """The annotation files of each stage (`train_list`, `val_list`, `test_list`), the folder
    their paths are relative to (`root`), their line format (`annotation_format`: v1, v2 or
    frames), the class count labels are checked against (`num_classes`, None: unchecked) and
    whether every listed video is checked to exist before training (`check_files`)."""

    train_list: str | None = None
    val_list: str | None = None
    test_list: str | None = None
    root: str | None = None
    annotation_format: str = "v1"
    num_classes: int | None = None
    check_files: bool = False

    def __post_init__(self) -> None:
        for name in ("train_list", "val_list", "test_list", "root"):
            object.__setattr__(self, name, _path(getattr(self, name)))


@dataclass(frozen=True)
class ClipSettings:
    """What one sample is: `num_frames` frames `sampling_rate` apart, `input_size` pixels
    square, `num_sample` views of each decoded video (repeated sampling)."""

    num_frames: int = 16
    sampling_rate: int = 4
    input_size: int = 224
    num_sample: int = 1


@dataclass(frozen=True)
class LoaderSettings:
    """`batch_size` videos per device, `num_workers` DataLoader processes, pinned host memory,
    and the `seed` of the samplers' order and of every per-sample random stream."""

    batch_size: int = 8
    num_workers: int = 8
    pin_memory: bool = True
    seed: int = 0


@dataclass(frozen=True)
class BrokenVideoSettings:
    """Training replaces a broken video, lists it in `quarantine_file` and stops once more than
    `max_broken_fraction` of its list is broken; evaluation never replaces one: `eval_broken`
    "fail" stops before evaluating, "exclude" leaves the unreadable videos out."""

    quarantine_file: str | None = None
    max_broken_fraction: float = 0.01
    eval_broken: str = "fail"

    def __post_init__(self) -> None:
        object.__setattr__(self, "quarantine_file", _path(self.quarantine_file))


class SettingView:
    """A read-only attribute of a data module that reads one field of one of its settings
    groups: `dm.batch_size` is `dm.loader.batch_size`."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(getattr(obj, self.group), self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(
            f"{self.name} is read from {self.group}: replace it, "
            f"dm.{self.group} = dataclasses.replace(dm.{self.group}, {self.name}=...)"
        )


# The flat config keys that are not the field names of their group.
_RENAMED = {
    "decode_device": ("decode", "device"),
    "decode_skip_loop_filter": ("decode", "skip_loop_filter"),
    "stream": ("stream", "url"),
    "stream_cache_dir": ("stream", "cache_dir"),
    "stream_cache_size": ("stream", "cache_size"),
}
_GROUPS = {
    "lists": ListSettings,
    "clips": ClipSettings,
    "loader": LoaderSettings,
    "broken": BrokenVideoSettings,
    "decode": DecodeOptions,
}
# Flat key -> (group, field).
KEYS = {
    **{
        f.name: (group, f.name)
        for group, cls in _GROUPS.items()
        for f in fields(cls)
        if (group, f.name) not in _RENAMED.values()
    },
    **_RENAMED,
}


def group_keys(keys: dict[str, Any]) -> dict[str, Any]:
    """The settings groups ("lists", "clips", "loader", "broken", "decode", "stream") built from
    the flat config `keys` (`batch_size=...`), each key filling its field of its group and every
    other field keeping its default; "stream" is None unless `stream` (its URL) is set. Raises
    TypeError naming an unknown key."""
    values: dict[str, dict[str, Any]] = {group: {} for group in (*_GROUPS, "stream")}
    for key, value in keys.items():
        if key not in KEYS:
            raise TypeError(f"unexpected keyword argument {key!r}: not a data setting")
        group, name = KEYS[key]
        values[group][name] = value
    built: dict[str, Any] = {group: cls(**values[group]) for group, cls in _GROUPS.items()}
    given = values["stream"]
    built["stream"] = (
        None
        if given.get("url") is None
        else StreamOptions(
            str(given["url"]), _path(given.get("cache_dir")), given.get("cache_size")
        )
    )
    return built


def check_settings(decode: DecodeOptions, clips: ClipSettings, broken: BrokenVideoSettings) -> None:
    """ConfigError naming the key of an impossible setting."""
    decode.check()
    num_sample = clips.num_sample
    if isinstance(num_sample, bool) or not isinstance(num_sample, int) or num_sample < 1:
        raise ConfigError(f"data.num_sample={num_sample} must be a positive integer.")
    if not 0 <= broken.max_broken_fraction <= 1:
        raise ConfigError(
            f"{MAX_BROKEN_KEY}={broken.max_broken_fraction} must be a fraction in [0, 1]."
        )
    if broken.eval_broken not in EVAL_BROKEN_MODES:
        raise ConfigError(
            f"{EVAL_BROKEN_KEY}={broken.eval_broken!r}: choose fail (stop, listing the "
            f"unreadable evaluation videos) or exclude (leave them out)."
        )
    rate = clips.sampling_rate
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        raise ConfigError(
            f"data.sampling_rate={rate} must be a positive integer (frames between the "
            f"clip's frames: 4 for Kinetics, UCF101 and HMDB51, 2 for SSv2)."
        )
