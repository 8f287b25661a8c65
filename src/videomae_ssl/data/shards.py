"""Packed videos: the shard layout that `videomae_ssl.prep.pack` writes and the data modules
read with `data.stream`, on local disk or in object storage (s3://...).

A packed list is a folder written by LitData's `optimize`: `index.json` and chunk files
(`chunk-*.bin`), plus `videos.json`, the manifest. Item i of the shards is row i of the
manifest (the i-th packed line of the annotation file; pack leaves broken videos out and says
which). An item holds the ENCODED video, never decoded frames, so the loader workers decode it
as they would decode the file:

    index        int    its row, checked on every read (the shards' order is the manifest's)
    checksum     int    CRC-32 of `data`, checked on every read (a corrupt chunk is named)
    data         bytes  the video file's bytes, or a frame folder's image files concatenated
    frame_sizes  str    "" for a video file; for a frame folder the byte size of each image,
                        comma separated, in frame order

The manifest carries what the annotation line said (path as listed, label, start, frame count)
and the line it came from. Nothing here is unpickled: LitData can store pickled items, so a
folder whose `index.json` declares any other fields or types is refused before it is read.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from videomae_ssl.data.annotations import VideoRecord
from videomae_ssl.data.quarantine import LoaderDataError
from videomae_ssl.errors import DataError

MANIFEST = "videos.json"
INDEX = "index.json"
MANIFEST_VERSION = 1
# The item's fields and LitData's serializer name for each: nothing else is ever read.
ITEM_TYPES = {"index": "int", "checksum": "int", "data": "bytes", "frame_sizes": "str"}
REMOTE_SCHEMES = ("s3://",)


def is_remote(url: str) -> bool:
    return url.startswith(REMOTE_SCHEMES)


def split_url(stream: str, list_path: str) -> str:
    """Where the shards of the annotation file `list_path` live under `data.stream`:
    `<stream>/<list file name without extension>` (train.csv -> <stream>/train)."""
    return f"{stream.rstrip('/')}/{Path(list_path).stem}"


def checksum(data: bytes | memoryview) -> int:
    return zlib.crc32(data)


def encode_item(index: int, data: bytes, frame_sizes: Sequence[int] | None) -> dict[str, Any]:
    """The shard item of row `index`: a video file's bytes (`frame_sizes` None), or a frame
    folder's images concatenated, with each image's byte size."""
    sizes = "" if frame_sizes is None else ",".join(str(n) for n in frame_sizes)
    return {"index": index, "checksum": checksum(data), "data": data, "frame_sizes": sizes}


def decode_payload(item: dict[str, Any]) -> bytes | list[bytes]:
    """An item's video bytes, or its frame images' bytes in frame order."""
    data = bytes(item["data"])
    if not item["frame_sizes"]:
        return data
    images, start = [], 0
    for size in (int(n) for n in item["frame_sizes"].split(",")):
        images.append(data[start : start + size])
        start += size
    return images


def write_manifest(folder: Path, entries: Sequence[dict[str, Any]], source: dict[str, Any]) -> None:
    """The manifest of `entries` (path, label, start, num_frames, line per packed row), written
    atomically; `source` says what was packed (list, root, format)."""
    manifest = {"version": MANIFEST_VERSION, **source, "count": len(entries), "videos": entries}
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


def records_of(manifest: dict[str, Any]) -> list[VideoRecord]:
    return [
        VideoRecord(path=v["path"], label=v["label"], start=v["start"], num_frames=v["num_frames"])
        for v in manifest["videos"]
    ]


def _check_index(index: dict[str, Any], where: str, count: int) -> list[tuple[int, str]]:
    """(items before each chunk ends, chunk file) from LitData's index, after checking that it
    declares exactly the fields pack writes (no pickled fields) and `count` items."""
    config = index.get("config") or {}
    types = config.get("types")
    if types != ITEM_TYPES or sorted(config.get("data_format") or []) != sorted(
        ITEM_TYPES.values()
    ):
        raise DataError(
            f"{where}: declares the fields {types or config.get('data_format')}, not those "
            f"videomae_ssl.prep.pack writes ({ITEM_TYPES}); only shards packed by it are read "
            f"(other shards may hold pickled objects)."
        )
    ends, total = [], 0
    for chunk in index.get("chunks", []):
        total += int(chunk["chunk_size"])
        ends.append((total, chunk["filename"]))
    if total != count:
        raise DataError(
            f"{where}: its chunks hold {total} videos but {MANIFEST} lists {count}; the folder "
            f"was not fully packed or uploaded: rerun videomae_ssl.prep.pack (it finishes what "
            f"is missing) and upload the whole folder."
        )
    return ends


def _allow_plain_http() -> None:
    """Let LitData's obstore downloads reach an http:// endpoint (a local S3-compatible server
    named by AWS_ENDPOINT_URL, as boto3 reads it): LitData builds its obstore client without
    obstore's `allow_http` option, so chunk downloads from such an endpoint fail with
    "BadScheme" while boto3 (the index) works."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint.startswith("http://"):
        from litdata.streaming import downloader

        downloader._OBSTORE_CLIENT_OPTIONS["allow_http"] = "true"


class ShardSplit:
    """One packed list, read by row with LitData's `StreamingDataset` (opened lazily in each
    process that reads, so the object crosses into DataLoader workers as a few strings).

    Why rows and not LitData's own iteration: every clip's crop, frames and mask come from the
    (seed, epoch, index) stream of its row, and the epoch order, the split over ranks and the
    mid-epoch resume are `EpochSampler`'s (exact, shared with the file path). LitData's
    shuffling visits chunks in its own order and its loader state counts items per worker,
    which would give a different order than the file path and a resume point that is not our
    consumed-batch count. So the order stays ours and LitData serves random access by row:
    local chunks are read in place; remote chunks are downloaded into `cache_dir` and kept up
    to `cache_size` (e.g. "50GB"; LitData evicts the oldest beyond it), so an epoch downloads
    each chunk once when the cache holds the split.
    """

    def __init__(
        self,
        url: str,
        *,
        cache_dir: str | None = None,
        cache_size: str | int | None = None,
        key: str = "data.stream",
    ) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.cache_size = cache_size
        digest = hashlib.sha1(self.url.encode()).hexdigest()[:16]
        self.cache_dir = None if cache_dir is None else os.path.join(cache_dir, digest)
        self.records: list[VideoRecord] = []
        self._chunks: list[tuple[int, str]] = []
        self._dataset: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_dataset": None}

    def load(self) -> list[VideoRecord]:
        """Read the manifest and check LitData's index (main process) -> the records, row i
        describing item i. DataError naming the folder when it is not a complete pack."""
        manifest = self._json(MANIFEST)
        if manifest.get("version") != MANIFEST_VERSION or "videos" not in manifest:
            raise DataError(f"{self.url}/{MANIFEST}: not a manifest written by prep.pack.")
        self.records = records_of(manifest)
        self._chunks = _check_index(self._json(INDEX), f"{self.url}/{INDEX}", len(self.records))
        return self.records

    def _json(self, name: str) -> dict[str, Any]:
        where = f"{self.url}/{name}"
        try:
            if is_remote(self.url):
                local = self._download(name)
            else:
                local = os.path.join(self.url, name)
                if not os.path.isfile(local):
                    raise DataError(
                        f"{self.key}: {where} does not exist; pack the list with `python -m "
                        f"videomae_ssl.prep.pack <list> --out {os.path.dirname(self.url)}`."
                    )
            with open(local, encoding="utf-8") as f:
                return json.load(f)
        except DataError:
            raise
        except Exception as err:
            raise DataError(
                f"{self.key}: cannot read {where} ({type(err).__name__}: {err})"
            ) from err

    def _download(self, name: str) -> str:
        from litdata.streaming.fs_provider import S3FsProvider

        if self.cache_dir is None:
            raise DataError(f"{self.key}={self.url}: remote shards need data.stream_cache_dir.")
        os.makedirs(self.cache_dir, exist_ok=True)
        local = os.path.join(self.cache_dir, f"pack-{name}")
        tmp = f"{local}.{os.getpid()}.tmp"
        S3FsProvider().download_file(f"{self.url}/{name}", tmp)
        os.replace(tmp, local)
        return local

    def chunk_of(self, row: int) -> str:
        """The chunk file that holds item `row` (for messages)."""
        position = bisect.bisect_right([end for end, _ in self._chunks], row)
        name = self._chunks[min(position, len(self._chunks) - 1)][1] if self._chunks else "?"
        return f"{self.url}/{name}"

    def _open(self) -> Any:
        from litdata import StreamingDataset

        if not is_remote(self.url):
            # Chunks are read in place; the size only keeps LitData from guessing one.
            return StreamingDataset(self.url, max_cache_size=self.cache_size, shuffle=False)
        _allow_plain_http()
        dataset = StreamingDataset(
            self.url, cache_dir=self.cache_dir, max_cache_size=self.cache_size, shuffle=False
        )
        # LitData's random access fetches single items by default; keep whole chunks in the
        # cache instead, so that later epochs read them locally.
        dataset._on_demand_bytes = False
        return dataset

    def read(self, row: int) -> bytes | list[bytes]:
        """Item `row`'s video bytes (or frame images' bytes), checked against its row and
        checksum; LoaderDataError naming the chunk file when the shard is corrupt."""
        where = f"{self.chunk_of(row)} (item {row}, {self.records[row].path})"
        try:
            if self._dataset is None:
                self._dataset = self._open()
            item = self._dataset[row]
            good = (
                isinstance(item, dict)
                and item.get("index") == row
                and checksum(item["data"]) == item["checksum"]
            )
        except Exception as err:
            raise LoaderDataError(
                f"corrupt shard {where}: cannot be read ({type(err).__name__}: {err}); repack "
                f"the list or copy the folder again."
            ) from err
        if not good:
            raise LoaderDataError(
                f"corrupt shard {where}: its bytes fail the item's checksum; repack the list or "
                f"copy the folder again."
            )
        return decode_payload(item)
