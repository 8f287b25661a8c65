"""Settings of a data module that no file can fix, checked before anything is read; each error
names its config key."""

from __future__ import annotations

from videomae_ssl.data.decode import DecodeOptions
from videomae_ssl.data.quarantine import EVAL_BROKEN_KEY, EVAL_BROKEN_MODES, MAX_BROKEN_KEY
from videomae_ssl.errors import ConfigError


def check_settings(
    decode: DecodeOptions,
    *,
    num_sample: int,
    sampling_rate: int,
    max_broken_fraction: float,
    eval_broken: str,
) -> None:
    """ConfigError naming the key of an impossible setting."""
    decode.check()
    if isinstance(num_sample, bool) or not isinstance(num_sample, int) or num_sample < 1:
        raise ConfigError(f"data.num_sample={num_sample} must be a positive integer.")
    if not 0 <= max_broken_fraction <= 1:
        raise ConfigError(f"{MAX_BROKEN_KEY}={max_broken_fraction} must be a fraction in [0, 1].")
    if eval_broken not in EVAL_BROKEN_MODES:
        raise ConfigError(
            f"{EVAL_BROKEN_KEY}={eval_broken!r}: choose fail (stop, listing the unreadable "
            f"evaluation videos) or exclude (leave them out)."
        )
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int) or sampling_rate < 1:
        raise ConfigError(
            f"data.sampling_rate={sampling_rate} must be a positive integer (frames between the "
            f"clip's frames: 4 for Kinetics, UCF101 and HMDB51, 2 for SSv2)."
        )
