"""CO3Dv2 loader (the paper's training data, Section 4): one object sequence of one category.

Layout (paths inside the annotations are relative to the dataset root)::

    <root>/<category>/frame_annotations.jgz        gzip JSON list: sequence_name, frame_number,
                                                   image{path, size [H, W]}, mask{path}, viewpoint{R, T,
                                                   focal_length, principal_point, intrinsics_format}
    <root>/<category>/sequence_annotations.jgz     gzip JSON list: sequence_name, category, viewpoint_quality_score
    <root>/<category>/set_lists/set_lists_*.json   {"train": [[sequence, frame, image path], ...], ...} (optional)
    <root>/<category>/<sequence>/images/*.jpg      (or .png)
    <root>/<category>/<sequence>/masks/*.png       foreground = value > 125

Cameras are PyTorch3D NDC (``ndc_isotropic``; CO3Dv1's ``ndc_norm_image_bounds`` is converted). Without a
``sequence`` name the sequence with the highest viewpoint quality score is used.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import torch

from customdiffusion360.datasets.common import Scene, read_image, read_mask, scene_from_views, square_resize
from paperkit.errors import DataFormatError, DataNotFoundError

__all__ = ["CO3D_SOURCE", "load_co3d"]

log = logging.getLogger(__name__)

CO3D_SOURCE = (
    "https://github.com/facebookresearch/co3d (CO3Dv2; the paper's converted concepts are on the project page)"
)


def _expected(category: str) -> dict:
    return {
        category: {
            "frame_annotations.jgz": None,
            "sequence_annotations.jgz": None,
            "set_lists": ["set_lists_fewview_dev.json"],
            "<sequence>": {"images": ["frame000001.jpg", "..."], "masks": ["frame000001.png", "..."]},
        }
    }


def _read_jgz(path: Path) -> list | dict:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFormatError(
            path,
            f"not a gzip-compressed JSON file ({err.__class__.__name__})",
            expected="CO3D's .jgz annotations",
            source=CO3D_SOURCE,
        ) from None


def load_co3d(root: str | Path, category: str, sequence: str | None, image_size: int, use_masks: bool = True) -> Scene:
    root = Path(root)
    cat = root / category
    fa, sa = cat / "frame_annotations.jgz", cat / "sequence_annotations.jgz"
    missing = [p.name for p in (fa, sa) if not p.is_file()]
    if missing:
        raise DataNotFoundError(
            f"co3d/{category}", cat, missing=missing, expected=_expected(category), source=CO3D_SOURCE
        )
    seqs = _read_jgz(sa)
    if not isinstance(seqs, list) or not all(isinstance(s, dict) and "sequence_name" in s for s in seqs):
        raise DataFormatError(sa, "expected a list of sequence records with 'sequence_name'", source=CO3D_SOURCE)
    scores = {s["sequence_name"]: float(s.get("viewpoint_quality_score") or 0.0) for s in seqs}
    if sequence is None:
        sequence = max(scores, key=scores.get)
        log.info("co3d: no --data.sequence given, using %s (viewpoint quality %.2f)", sequence, scores[sequence])
    elif sequence not in scores:
        raise DataFormatError(sa, f"sequence '{sequence}' is not listed (have: {', '.join(sorted(scores)[:8])})")
    if scores[sequence] <= 0.5:
        log.warning(
            "co3d: sequence %s has viewpoint_quality_score %.2f <= 0.5 (the paper keeps > 0.5)",
            sequence,
            scores[sequence],
        )
    frames = _read_jgz(fa)
    if not isinstance(frames, list):
        raise DataFormatError(fa, "expected a list of frame records", source=CO3D_SOURCE)
    frames = sorted((f for f in frames if f.get("sequence_name") == sequence), key=lambda f: f["frame_number"])
    listed = _set_list_frames(cat, sequence)
    if listed is not None:
        frames = [f for f in frames if f["frame_number"] in listed]
    if len(frames) < 4:
        raise DataFormatError(fa, f"sequence '{sequence}' has {len(frames)} frames, need at least 4")
    images, masks, Rs, Ts, focals, pps, names = [], [], [], [], [], [], []
    for f in frames:
        try:
            vp = f["viewpoint"]
            R, T = torch.tensor(vp["R"], dtype=torch.float64), torch.tensor(vp["T"], dtype=torch.float64)
            focal, pp = torch.tensor(vp["focal_length"]), torch.tensor(vp["principal_point"])
            img_path = root / f["image"]["path"]
            fmt = vp.get("intrinsics_format", "ndc_norm_image_bounds")
        except (KeyError, TypeError, ValueError) as err:
            raise DataFormatError(
                fa,
                f"frame {f.get('frame_number')} lacks a field ({err})",
                expected="image.path and viewpoint{R, T, focal_length, principal_point}",
            ) from None
        if R.shape != (3, 3) or T.shape != (3,) or focal.shape != (2,) or pp.shape != (2,):
            raise DataFormatError(
                fa,
                f"frame {f['frame_number']}: viewpoint shapes R {tuple(R.shape)}, T {tuple(T.shape)}",
                expected="R 3x3, T 3, focal_length 2, principal_point 2",
            )
        if not img_path.is_file():
            raise DataNotFoundError(
                f"co3d/{category}/{sequence}",
                root,
                missing=[f["image"]["path"]],
                expected=_expected(category),
                source=CO3D_SOURCE,
            )
        img = read_image(img_path)
        h, w = img.shape[:2]
        if fmt == "ndc_norm_image_bounds":  # CO3Dv1: units of half the image per axis -> isotropic
            s = min(h, w)
            focal, pp = focal * torch.tensor([w / s, h / s]), pp * torch.tensor([w / s, h / s])
        mask = None
        if use_masks:
            mrel = (f.get("mask") or {}).get("path")
            if not mrel or not (root / mrel).is_file():
                raise DataNotFoundError(
                    f"co3d/{category}/{sequence} masks",
                    root,
                    missing=[mrel or "mask.path"],
                    expected=_expected(category),
                    source=CO3D_SOURCE,
                    hint="Pass --data.use_masks=false to train without the silhouette loss.",
                )
            mask = read_mask(root / mrel, (h, w))
        im, m, focal, pp = square_resize(img, mask, focal.float(), pp.float(), image_size)
        images.append(im), masks.append(m), Rs.append(R), Ts.append(T), focals.append(focal), pps.append(pp)
        names.append(f["image"]["path"])
    return scene_from_views(images, masks, Rs, Ts, focals, pps, names, category, use_masks, fa)


def _set_list_frames(cat: Path, sequence: str) -> set[int] | None:
    files = sorted((cat / "set_lists").glob("set_lists_*.json")) if (cat / "set_lists").is_dir() else []
    if not files:
        return None
    path = files[0]
    try:
        lists = json.loads(path.read_text())
        frames = {int(e[1]) for split in lists.values() for e in split if e[0] == sequence}
    except (json.JSONDecodeError, TypeError, IndexError, ValueError, AttributeError) as err:
        raise DataFormatError(
            path,
            f"not a CO3D set list ({err.__class__.__name__})",
            expected='{"train": [[sequence, frame, path], ...], ...}',
        ) from None
    return frames or None
