"""A Hugging Face Hub on 127.0.0.1 that serves a few model repositories from memory.

It answers what huggingface_hub's `snapshot_download` asks (huggingface_hub 2.x):
- GET  /api/models/{repo}[/revision/{rev}]  -> model info with the commit `sha`
- GET  /api/models/{repo}/tree/{rev}        -> the files (path, size, git blob id)
- HEAD /{repo}/resolve/{rev}/{file}         -> X-Repo-Commit, ETag, Content-Length
- GET  /{repo}/resolve/{rev}/{file}         -> the bytes
An unknown repository or revision gets the Hub's 404 with its `X-Error-Code`, which
huggingface_hub turns into RepositoryNotFoundError / RevisionNotFoundError. Point HF_ENDPOINT
at `FakeHub.url`; `requests` lists what was asked, as (method, path).
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


def git_blob_id(data: bytes) -> str:
    """The id git (and the Hub's ETag of a non-LFS file) gives these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def read_folder(folder: Path) -> dict[str, bytes]:
    """{path in the repository: bytes} of every file under `folder`."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


class FakeHub:
    """`repos` maps a repo id to its files; each repository has one commit, on `main`."""

    def __init__(self, repos: dict[str, dict[str, bytes]]) -> None:
        self.repos = repos
        self.commits = {
            repo: hashlib.sha1(
                repr(sorted((k, git_blob_id(v)) for k, v in files.items())).encode() + repo.encode()
            ).hexdigest()
            for repo, files in repos.items()
        }
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

            def do_GET(self) -> None:
                hub._answer(self, body=True)

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        body: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)

    def _json(self, handler: BaseHTTPRequestHandler, value: object, body: bool) -> None:
        self._send(
            handler, 200, json.dumps(value).encode(), body, {"Content-Type": "application/json"}
        )

    def _error(self, handler: BaseHTTPRequestHandler, code: str, body: bool) -> None:
        message = json.dumps({"error": code}).encode()
        self._send(
            handler,
            404,
            message,
            body,
            {"X-Error-Code": code, "X-Error-Message": code, "Content-Type": "application/json"},
        )

    def _repo_and_rest(self, parts: list[str]) -> tuple[str | None, list[str]]:
        repo = "/".join(parts[:2])
        return (repo, parts[2:]) if repo in self.repos else (None, parts[2:])

    def _commit(self, repo: str, revision: str) -> str | None:
        return self.commits[repo] if revision in ("main", self.commits[repo]) else None

    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path = urlsplit(handler.path).path
        self.requests.append((handler.command, path))
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] == ["api", "models"]:
            repo, rest = self._repo_and_rest(parts[2:])
            if repo is None:
                return self._error(handler, "RepoNotFound", body)
            revision = rest[1] if len(rest) >= 2 and rest[0] in ("revision", "tree") else "main"
            commit = self._commit(repo, revision)
            if commit is None:
                return self._error(handler, "RevisionNotFound", body)
            files = self.repos[repo]
            if rest[:1] == ["tree"]:
                entries = [
                    {"type": "file", "path": name, "size": len(data), "oid": git_blob_id(data)}
                    for name, data in sorted(files.items())
                ]
                return self._json(handler, entries, body)
            info = {
                "id": repo,
                "modelId": repo,
                "sha": commit,
                "private": False,
                "siblings": [{"rfilename": name} for name in sorted(files)],
            }
            return self._json(handler, info, body)
        repo, rest = self._repo_and_rest(parts)
        if repo is None or len(rest) < 3 or rest[0] != "resolve":
            return self._error(handler, "RepoNotFound", body)
        commit = self._commit(repo, rest[1])
        if commit is None:
            return self._error(handler, "RevisionNotFound", body)
        data = self.repos[repo].get("/".join(rest[2:]))
        if data is None:
            return self._error(handler, "EntryNotFound", body)
        headers = {
            "X-Repo-Commit": commit,
            "ETag": f'"{git_blob_id(data)}"',
            "Content-Type": "application/octet-stream",
        }
        self._send(handler, 200, data, body, headers)
