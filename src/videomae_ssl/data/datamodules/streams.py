"""`data.stream`: a data module reads its lists from packed shards (`videomae_ssl.data.shards`)
instead of annotation files and video files.

Each list the stage reads is looked up by its file name under the stream: data.train_list
`.../train.csv` is read from `<stream>/train`, data.val_list `.../val.csv` from `<stream>/val`
(what `python -m videomae_ssl.prep.pack train.csv val.csv --out <stream>` writes), so the
lists' files need not exist where the run is. The clips are those the files give: same rows,
same per-sample streams, same decoder.

Evaluation lists are not decoded again before the run (pack decoded every packed video); an
evaluation video that fails to decode, or a corrupt shard, still stops the run with its name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from videomae_ssl.data.shards import REMOTE_SCHEMES, ShardSplit, is_remote, split_url
from videomae_ssl.errors import ConfigError

STREAM_KEY = "data.stream"
CACHE_SIZE_KEY = "data.stream_cache_size"
_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB)$", re.IGNORECASE)


@dataclass(frozen=True)
class StreamOptions:
    """Where the shards are (`url`: a folder or s3://bucket/prefix), and for remote shards
    the local cache folder and its size ("50GB", bytes as an int, or None: unbounded)."""

    url: str
    cache_dir: str | None = None
    cache_size: str | int | None = None

    def check(self) -> None:
        """ConfigError naming the key of a setting no file can fix."""
        if not isinstance(self.url, str) or not self.url:
            raise ConfigError(f"{STREAM_KEY}={self.url!r}: give a folder of shards or s3://...")
        if "://" in self.url and not is_remote(self.url):
            raise ConfigError(
                f"{STREAM_KEY}={self.url}: unsupported scheme; give a local folder or one of "
                f"{', '.join(REMOTE_SCHEMES)}."
            )
        if not is_remote(self.url) and not os.path.isdir(self.url):
            raise ConfigError(
                f"{STREAM_KEY}={self.url}: no such folder; pack the lists first with `python -m "
                f"videomae_ssl.prep.pack <list> --root <videos> --out {self.url}`."
            )
        size = self.cache_size
        valid = (
            size is None
            or (isinstance(size, int) and not isinstance(size, bool) and size > 0)
            or (isinstance(size, str) and _SIZE.match(size.strip()))
        )
        if not valid:
            raise ConfigError(
                f"{CACHE_SIZE_KEY}={size!r}: give a size such as 50GB or 500MB, a byte count, "
                f"or null (no limit)."
            )

    def split(self, list_path: str, key: str) -> ShardSplit:
        """The shards of the list `list_path` (set by config key `key`), manifest loaded."""
        split = ShardSplit(
            split_url(self.url, list_path),
            cache_dir=self.cache_dir,
            cache_size=self.cache_size.strip()
            if isinstance(self.cache_size, str)
            else self.cache_size,
            key=f"{STREAM_KEY} ({key}={list_path})",
        )
        split.load()
        return split
