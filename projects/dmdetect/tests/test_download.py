"""``dmdetect download-reals`` against a local HTTP server: images, a 404, a slow response, a non-image body."""

from __future__ import annotations

import csv

from dmdetect.cli import main
from dmdetect.download import download_reals
from paperkit.testing import Response, local_http_server

from .helpers import elsa_rows, image_bytes, write_elsa


def test_download_reals_resumable_with_failures(tmp_path) -> None:
    routes = {
        "/a.jpg": Response(image_bytes(1, "JPEG"), content_type="image/jpeg"),
        "/b.png": Response(image_bytes(2, "PNG"), content_type="image/png"),
        "/slow.jpg": Response(image_bytes(3, "JPEG"), delay_s=2.0),
        "/html": Response("<html>no image here</html>", content_type="text/html"),
    }
    with local_http_server(routes) as (base, log):
        urls = [f"{base}/a.jpg", f"{base}/b.png", f"{base}/missing.jpg", f"{base}/slow.jpg", f"{base}/html"]
        root = write_elsa(tmp_path / "d3", {"train": elsa_rows(5, urls=urls)}, reals=False)
        counts = download_reals(root, ("train",), rate=100, timeout=0.5)
        assert counts == {"downloaded": 2, "skipped": 0, "failed": 3}
        assert sorted(p.name for p in (root / "reals").glob("0*")) == ["000000.jpg", "000001.png"]
        with open(root / "reals" / "failures.csv", newline="") as f:
            rows = {r["id"]: r for r in csv.DictReader(f)}
        assert rows["000002"]["reason"] == "HTTP 404" and rows["000002"]["url"] == urls[2]
        assert rows["000003"]["reason"] == "timeout"
        assert rows["000004"]["reason"] == "not an image"
        n_requests = len(log)
        main(["download-reals", "--root", str(root), "--splits", "train", "--rate", "100", "--timeout", "0.5"])
        assert len(log) == n_requests + 3  # the two downloaded images were skipped, the failures retried
        assert not list((root / "reals").glob(".part-*"))


def test_download_rate_limit(tmp_path) -> None:
    import time

    with local_http_server({f"/{i}.png": Response(image_bytes(i)) for i in range(4)}) as (base, _):
        root = write_elsa(tmp_path / "d3", {"train": elsa_rows(4, urls=[f"{base}/{i}.png" for i in range(4)])},
                          reals=False)  # fmt: skip
        t0 = time.monotonic()
        assert download_reals(root, ("train",), rate=10, timeout=2)["downloaded"] == 4
        assert time.monotonic() - t0 >= 0.3  # 4 requests at <= 10/s: >= 3 intervals of 0.1 s
