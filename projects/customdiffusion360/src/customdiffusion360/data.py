"""The DataModule (paper Section 4): one posed object, split into training views and held-out target poses.

* views in capture order; even positions train (the official ``skip=2``), odd positions are held-out target poses,
  alternately validation and test;
* a training sample: one target among the training views and ``n_refs`` other training views spread around the
  orbit (evenly spaced slots after a random offset), each reference at a noise level drawn from a grid of
  ``ref_levels`` timesteps in [``ref_t_min``, ``ref_t_max``]; with probability ``p_reg`` it is replaced by a
  regularisation sample (a generic image and its caption, zero-image references, an all-ones mask, no rendering
  losses); with probability ``p_text_drop`` the prompt is dropped (classifier-free guidance);
* a validation / test sample: a held-out target, ``n_refs`` evenly spaced training views at level ``ref_eval_level``;
* ``predict``: a user's JSON file of target cameras (orbit azimuth / elevation or explicit cameras) and a prompt.

``dataset``: ``synthetic`` (the embedded cube, generated once into ``root`` in the CO3D layout and read by the
CO3D loader), ``co3d`` (``root`` = the CO3D root, ``category``, ``sequence``) or ``custom`` (``root`` = the user's
folder). Regularisation images: ``reg_root`` (``images/<i>.png`` + ``caption.txt``, the paper's layout); the
synthetic default uses its generic set.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from customdiffusion360.datasets import (
    Scene,
    azimuths_of,
    load_co3d,
    load_custom,
    orbit_camera,
    write_co3d_cube,
    write_generic,
)
from customdiffusion360.datasets.common import read_image
from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError
from paperkit.synthetic import cached_dir

__all__ = ["CD360DataModule", "load_predict_file", "load_reg_set"]

log = logging.getLogger(__name__)

SYNTHETIC_VERSION = 1  # bump when the generator's output changes (it is frozen after calibration)


def load_reg_set(folder: str | Path, image_size: int) -> tuple[torch.Tensor, list[str]]:
    """Regularisation images ``images/<i>.png`` with one caption per line in ``caption.txt``: (M, 3, S, S) in [0,1]."""
    folder = Path(folder)
    cap = folder / "caption.txt"
    if not cap.is_file() or not (folder / "images").is_dir():
        raise DataNotFoundError(
            "regularisation images",
            folder,
            missing=["caption.txt", "images/"],
            expected={"images": ["0.png", "1.png", "..."], "caption.txt": None},
            hint="Generate them with the base model from 'photo of a <category>' prompts.",
        )
    captions = [c.strip() for c in cap.read_text().splitlines() if c.strip()]
    images = []
    for i in range(len(captions)):
        path = folder / "images" / f"{i}.png"
        if not path.is_file():
            raise DataNotFoundError(
                "regularisation images",
                folder,
                missing=[f"images/{i}.png"],
                hint=f"caption.txt has {len(captions)} lines: one image per line.",
            )
        img = torch.from_numpy(read_image(path).copy()).permute(2, 0, 1).float()[None] / 255.0
        images.append(torch.nn.functional.interpolate(img, size=(image_size, image_size), mode="area")[0])
    return torch.stack(images), captions


def load_predict_file(path: str | Path, scene: Scene) -> tuple[list[str], dict[str, torch.Tensor], list[dict]]:
    """A user's target cameras: ``{"prompt": "...", "targets": [{"azimuth": deg, "elevation": deg} | {"R", "T",
    "focal", "principal_point"} (PyTorch3D NDC, normalised scene), ...]}`` -> prompts, cameras, row descriptions."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(
            "predict file", path.parent, missing=[path.name], expected={path.name: None}, hint=PREDICT_HINT
        )
    try:
        spec = json.loads(path.read_text())
        targets = spec["targets"]
        default_prompt = spec.get("prompt")
        if not isinstance(targets, list) or not targets:
            raise ValueError("'targets' must be a non-empty list")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
        raise DataFormatError(
            path, f"not a target-camera file ({err.__class__.__name__}: {err})", expected=PREDICT_HINT
        ) from None
    prompts, cams, rows = [], {"R": [], "T": [], "focal": [], "pp": []}, []
    for i, t in enumerate(targets):
        try:
            prompt = t.get("prompt", default_prompt)
            if not isinstance(prompt, str):
                raise ValueError("no prompt (top-level 'prompt' or per target)")
            if "azimuth" in t:
                el = float(t.get("elevation", 20.0))
                R, T, f, pp = orbit_camera(scene, torch.tensor([float(t["azimuth"])]), torch.tensor([el]))
                R, T, f, pp = R[0], T[0], f[0], pp[0]
                rows.append({"azimuth": float(t["azimuth"]), "elevation": el})
            else:
                R, T = torch.tensor(t["R"], dtype=torch.float32), torch.tensor(t["T"], dtype=torch.float32)
                f = torch.tensor(t["focal"], dtype=torch.float32)
                pp = torch.tensor(t.get("principal_point", [0.0, 0.0]), dtype=torch.float32)
                if R.shape != (3, 3) or T.shape != (3,) or f.shape != (2,) or pp.shape != (2,):
                    raise ValueError("R 3x3, T 3, focal 2, principal_point 2")
                rows.append({"azimuth": float("nan"), "elevation": float("nan")})
        except (KeyError, TypeError, ValueError) as err:
            raise DataFormatError(path, f"target {i} is malformed ({err})", expected=PREDICT_HINT) from None
        prompts.append(prompt)
        for k, v in zip(("R", "T", "focal", "pp"), (R, T, f, pp)):
            cams[k].append(v)
    return prompts, {k: torch.stack(v) for k, v in cams.items()}, rows


PREDICT_HINT = (
    'a JSON file {"prompt": "photo of a <new1> cube", "targets": [{"azimuth": 30, "elevation": 20}, '
    "...]} (azimuth in degrees from the first training view, about the orbit axis)"
)


class _Views(Dataset):
    """Samples of one scene (training: random; evaluation: fixed targets)."""

    def __init__(self, dm: CD360DataModule, targets: list[int] | None, length: int) -> None:
        self.dm, self.targets, self.length = dm, targets, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        return self.dm.sample(i, None if self.targets is None else self.targets[i])


class _Predict(Dataset):
    def __init__(self, dm: CD360DataModule, prompts: list[str], cams: dict[str, torch.Tensor]) -> None:
        self.dm, self.prompts, self.cams = dm, prompts, cams

    def __len__(self) -> int:
        return len(self.prompts)

    def __getitem__(self, i: int) -> dict:
        item = self.dm.sample(i, self.dm.test_views[0])  # references and shapes of an evaluation sample
        item.update({k: v[i] for k, v in self.cams.items()})
        item["prompt"] = self.prompts[i]
        item["index"] = torch.tensor(i)
        return item


class CD360DataModule(LightningDataModule):
    def __init__(
        self,
        dataset: Literal["synthetic", "co3d", "custom"] = "synthetic",
        root: str = "data/customdiffusion360",
        category: str = "cube",
        sequence: str | None = None,
        image_size: int = 32,
        use_masks: bool = True,
        token: str = "<new1>",
        n_refs: int = 3,
        train_samples: int = 64,
        batch_size: int = 4,
        eval_batch_size: int = 8,
        p_reg: float = 0.25,
        p_text_drop: float = 0.1,
        ref_levels: int = 50,
        ref_t_min: int = 19,
        ref_t_max: int = 999,
        ref_eval_level: int = 0,
        reg_root: str | None = None,
        synthetic_views: int = 32,
        generic_images: int = 512,
        num_workers: int = 0,
        predict_file: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not 0 <= ref_eval_level < ref_levels:
            raise PaperkitError(f"--data.ref_eval_level {ref_eval_level} must be in [0, {ref_levels})")
        self.grid = torch.linspace(ref_t_min, ref_t_max, ref_levels).round().long()  # reference timesteps
        self.scene: Scene | None = None
        self.reg: tuple[torch.Tensor, list[str]] | None = None
        self.generic_dir: Path | None = None
        self.predict_set: _Predict | None = None

    # --- loading ------------------------------------------------------------------------------------------------
    @property
    def prompt(self) -> str:
        return f"photo of a {self.hparams.token} {self.hparams.category}"

    @property
    def ref_prompt(self) -> str:
        return f"photo of a {self.hparams.category}"

    def _synthetic(self) -> tuple[Path, Path]:
        h = self.hparams
        cube = cached_dir(
            h.root,
            "cube",
            {"version": SYNTHETIC_VERSION, "views": h.synthetic_views, "size": h.image_size},
            lambda d: write_co3d_cube(d, h.synthetic_views, h.image_size),
        )
        generic = cached_dir(
            h.root,
            "generic",
            {"version": SYNTHETIC_VERSION, "n": h.generic_images, "size": h.image_size},
            lambda d: write_generic(d, h.generic_images, h.image_size),
        )
        return cube, generic

    def setup(self, stage: str | None = None) -> None:
        if self.scene is None:
            h = self.hparams
            if h.dataset == "synthetic":
                cube, self.generic_dir = self._synthetic()
                self.scene = load_co3d(cube, "cube", None, h.image_size, h.use_masks)
                self.reg = load_reg_set(self.generic_dir, h.image_size) if h.p_reg > 0 else None
            else:
                if h.dataset == "co3d":
                    self.scene = load_co3d(h.root, h.category, h.sequence, h.image_size, h.use_masks)
                else:
                    self.scene = load_custom(h.root, h.image_size, h.category, h.use_masks)
                if h.reg_root:
                    self.reg = load_reg_set(h.reg_root, h.image_size)
                elif h.p_reg > 0:
                    log.warning("no --data.reg_root: regularisation samples are off (p_reg = 0)")
            self._split()
        if stage == "predict":
            if not self.hparams.predict_file:
                raise PaperkitError(
                    "predict needs --data.predict_file (a JSON file of target cameras; " + PREDICT_HINT + ")"
                )
            prompts, cams, self.predict_rows = load_predict_file(self.hparams.predict_file, self.scene)
            self.predict_set = _Predict(self, prompts, cams)

    def _split(self) -> None:
        n = len(self.scene)
        order = list(range(n))
        self.train_views = order[0::2]
        held = order[1::2]
        self.val_views, self.test_views = held[0::2], held[1::2]
        az = azimuths_of(self.scene)
        self.azimuths = az
        self.train_views = sorted(self.train_views, key=lambda i: float(az[i]))  # orbit order for the ref slots
        self.up = self.scene.up
        has_mask = self.scene.masks is not None
        log.info(
            "views: %d train, %d val, %d test (masks: %s)",
            len(self.train_views),
            len(self.val_views),
            len(self.test_views),
            has_mask,
        )

    @property
    def has_masks(self) -> bool:
        return self.scene is not None and self.scene.masks is not None

    # --- samples ------------------------------------------------------------------------------------------------
    def _refs(self, target: int | None, offset: float) -> list[int]:
        tv, n = self.train_views, self.hparams.n_refs
        v = len(tv)
        slots = [int(offset + k * v / n) % v for k in range(n)]
        out = []
        for s in slots:
            while tv[s] == target or tv[s] in out:
                s = (s + 1) % v
            out.append(tv[s])
        return out

    def sample(self, i: int, target: int | None) -> dict:
        """One sample as a dict of tensors (images in [-1, 1]) plus the prompt strings."""
        h, sc = self.hparams, self.scene
        train = target is None
        if train:
            target = self.train_views[int(torch.randint(len(self.train_views), ()))]
            refs = self._refs(target, float(torch.rand(())) * len(self.train_views))
            levels = torch.randint(h.ref_levels, (h.n_refs,))
        else:
            refs = self._refs(target, 0.0)
            levels = torch.full((h.n_refs,), h.ref_eval_level)
        mask = sc.masks[target] if sc.masks is not None else torch.ones(1, h.image_size, h.image_size)
        item = {
            "image": sc.images[target] * 2 - 1,
            "mask": mask,
            "R": sc.R[target],
            "T": sc.T[target],
            "focal": sc.focal[target],
            "pp": sc.pp[target],
            "ref_image": sc.images[refs] * 2 - 1,
            "ref_R": sc.R[refs],
            "ref_T": sc.T[refs],
            "ref_focal": sc.focal[refs],
            "ref_pp": sc.pp[refs],
            "ref_view": torch.tensor(refs),
            "ref_t": self.grid[levels],
            "ref_level": levels,
            "up": self.up,
            "is_reg": torch.tensor(0.0),
            "has_mask": torch.tensor(float(sc.masks is not None)),
            "view": torch.tensor(target),
            "azimuth": self.azimuths[target],
            "index": torch.tensor(i if not train else target),
            "prompt": self.prompt,
            "ref_prompt": self.ref_prompt,
        }
        if train and self.reg is not None and float(torch.rand(())) < h.p_reg:
            images, captions = self.reg
            j = int(torch.randint(len(captions), ()))
            item.update(
                image=images[j] * 2 - 1,
                mask=torch.ones_like(mask),
                prompt=captions[j],
                ref_prompt="",
                ref_view=torch.full((h.n_refs,), -1),
                is_reg=torch.tensor(1.0),
            )
            item["ref_image"] = torch.zeros_like(item["ref_image"])
        if train and float(torch.rand(())) < h.p_text_drop:
            item["prompt"] = ""
        return item

    # --- loaders ------------------------------------------------------------------------------------------------
    def _loader(self, ds: Dataset, batch_size: int) -> DataLoader:
        return DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=self.hparams.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(_Views(self, None, self.hparams.train_samples), self.hparams.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(_Views(self, self.val_views, len(self.val_views)), self.hparams.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(_Views(self, self.test_views, len(self.test_views)), self.hparams.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set, self.hparams.eval_batch_size)

    def reference_views(self) -> dict[str, torch.Tensor]:
        """Every training view (images in [-1, 1], cameras) and the orbit axis: what sampling needs later."""
        sc, tv = self.scene, self.train_views
        return {
            "ref_image": sc.images[tv] * 2 - 1,
            "ref_R": sc.R[tv],
            "ref_T": sc.T[tv],
            "ref_focal": sc.focal[tv],
            "ref_pp": sc.pp[tv],
            "ref_view": torch.tensor(tv),
            "up": self.up,
            "first_R": sc.R[:1],
            "first_T": sc.T[:1],
        }
