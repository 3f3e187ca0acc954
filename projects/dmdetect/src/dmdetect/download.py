"""``dmdetect download-reals``: the real images of ELSA D3, which the parquet shards reference only by URL.

For every record of the shards of a split: skip it if ``<root>/reals/<id>.<ext>`` already exists (resumable), else
GET its ``url`` (one request at a time, at most ``--rate`` requests per second, ``--timeout`` seconds each), check that
the body decodes as an image, and write it atomically under the extension of its format. Every failure (id, url,
reason: HTTP status, timeout, connection error, not an image) is recorded in ``<root>/reals/failures.csv``, which is
rewritten after each run (failures that later succeed leave it).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from dmdetect.images import elsa_shards, find_real, shard_ids_urls

__all__ = ["download_reals", "main"]

log = logging.getLogger(__name__)

_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif", "MPO": ".jpg"}
FAILURES = "failures.csv"


def _fetch(url: str, timeout: float, max_bytes: int, user_agent: str) -> tuple[bytes | None, str]:
    req = urllib.request.Request(url, headers={"User-Agent": user_agent})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as err:
        return None, f"HTTP {err.code}"
    except TimeoutError:
        return None, "timeout"
    except urllib.error.URLError as err:
        reason = err.reason
        return None, "timeout" if isinstance(reason, TimeoutError | socket.timeout) else f"connection error: {reason}"
    except (OSError, ValueError) as err:
        return None, f"error: {type(err).__name__}: {err}"
    if len(body) > max_bytes:
        return None, f"larger than {max_bytes} bytes"
    return body, ""


def _image_ext(body: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(body)) as im:
            fmt = im.format
            im.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    return _EXT.get(fmt or "", ".img")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_failures(path: Path) -> dict[str, tuple[str, str]]:
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {r["id"]: (r["url"], r["reason"]) for r in csv.DictReader(f)}


def _write_failures(path: Path, failures: dict[str, tuple[str, str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", "url", "reason"])
    for rid, (url, reason) in sorted(failures.items()):
        writer.writerow([rid, url, reason])
    _write_atomic(path, buf.getvalue().encode())


def download_reals(
    root: str | Path,
    splits: tuple[str, ...] = ("train", "validation"),
    *,
    rate: float = 5.0,
    timeout: float = 10.0,
    max_bytes: int = 20 << 20,
    limit: int | None = None,
    user_agent: str = "dmdetect-download-reals/0.1 (research; ELSA D3 reals)",
) -> dict[str, int]:
    """Download the reals of ``splits``; returns counts ``{"downloaded", "skipped", "failed"}``."""
    root = Path(root)
    out = root / "reals"
    out.mkdir(parents=True, exist_ok=True)
    fail_path = out / FAILURES
    failures = _read_failures(fail_path)
    counts = {"downloaded": 0, "skipped": 0, "failed": 0}
    interval = 1.0 / rate if rate > 0 else 0.0
    last = 0.0
    done = 0
    try:
        for split in splits:
            for shard in elsa_shards(root, split):
                for rid, url in shard_ids_urls(shard):
                    if limit is not None and done >= limit:
                        return counts
                    if find_real(out, rid) is not None:
                        counts["skipped"] += 1
                        failures.pop(rid, None)
                        continue
                    done += 1
                    wait = last + interval - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    last = time.monotonic()
                    body, reason = _fetch(url, timeout, max_bytes, user_agent) if url else (None, "no url")
                    ext = _image_ext(body) if body is not None else None
                    if body is not None and ext is None:
                        reason = "not an image"
                    if ext is None:
                        failures[rid] = (url or "", reason)
                        counts["failed"] += 1
                        continue
                    _write_atomic(out / f"{rid}{ext}", body)
                    failures.pop(rid, None)
                    counts["downloaded"] += 1
                    if counts["downloaded"] % 100 == 0:
                        _write_failures(fail_path, failures)
                        log.info("download-reals: %s", counts)
    finally:
        _write_failures(fail_path, failures)
    return counts


def main(argv: list[str] | None = None) -> dict[str, int]:
    p = argparse.ArgumentParser(prog="dmdetect download-reals", description=__doc__.split("\n\n")[1])
    p.add_argument("--root", required=True, help="the ELSA D3 folder (data/<split>-*.parquet); reals go to ROOT/reals")
    p.add_argument("--splits", nargs="+", default=["train", "validation"])
    p.add_argument("--rate", type=float, default=5.0, help="at most this many requests per second")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    p.add_argument("--limit", type=int, default=None, help="stop after this many download attempts")
    opts = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    counts = download_reals(opts.root, tuple(opts.splits), rate=opts.rate, timeout=opts.timeout, limit=opts.limit)
    log.info("download-reals: %d downloaded, %d already there, %d failed (see %s)", counts["downloaded"],
             counts["skipped"], counts["failed"], Path(opts.root, "reals", FAILURES))  # fmt: skip
    return counts
