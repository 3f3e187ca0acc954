"""Embedded synthetic data: CLIP-like image and caption features of real and generated images, no encoder needed.

The paper's detector is an MLP on frozen CLIP features, so the synthetic world produces the features directly (width
``dim`` instead of 768). What it encodes is what the paper's detector exploits, cross-modal consistency plus weak
generator artefacts:

* a fixed world: a text map ``W_t`` and an image map ``W_i`` (dim x 16) from a 16-d scene, 5 unit "generator artefact"
  directions ``u_g`` (4 seen in training, one held out) and a "hard real style" direction ``h``;
* per record: a scene ``s ~ N(0, I)`` and its caption feature ``t = W_t s + 0.3 e``;
* the real image: ``W_i (s + 1.0 e) + 0.5 e`` (a loose match to its caption); 10 % of reals get ``+ 1.5 h``;
* the fake of generator g: ``W_i (s + 0.3 e) + 0.5 e + 0.35 u_g + 0.175 h`` (generated from the caption, so it follows
  it closely, plus a weak artefact); every fake carries the same caption ``t`` as its real (no text shortcut);
* 1 real : 4 fakes per record as in ELSA D3, or 1 : 20 (only one record in five keeps its real).

Image features alone separate the classes only partly; the image-caption agreement separates them well.

Text-shortcut option (``prompt_shift`` > 0, not the default): in ELSA D3 a real carries its LAION caption
(``original_prompt``) and its fakes the prompt they were generated from (``positive_prompt``); if the two kinds of
string differ systematically, the caption alone gives the label away. The option models exactly that difference and
nothing else: the fakes' prompt is ``t + prompt_shift * v`` (``v`` a fixed unit "prompt style" direction of the world,
drawn from its own random stream), the real keeps its own caption ``t``, and ``real_caption="fake_prompt"`` (the
control) gives the real the fakes' prompt instead. With ``prompt_shift = 0`` (the default) both are ``t``, the control
changes nothing, and every feature is bit-for-bit what it was without the option (no extra random draws).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

__all__ = ["GENERATORS", "SyntheticWorld", "make_split"]

GENERATORS = [f"gen{g}" for g in range(5)]  # gen4 is never seen in the default training split


@dataclass(frozen=True)
class SyntheticWorld:
    dim: int = 64
    latent: int = 16
    seed: int = 0

    def maps(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 7919])
        u = rng.normal(size=(len(GENERATORS), self.dim))
        h = rng.normal(size=self.dim)
        return {
            "W_t": rng.normal(size=(self.dim, self.latent)) / np.sqrt(self.latent),
            "W_i": rng.normal(size=(self.dim, self.latent)) / np.sqrt(self.latent),
            "u": u / np.linalg.norm(u, axis=1, keepdims=True),
            "h": h / np.linalg.norm(h),
        }

    def prompt_direction(self) -> np.ndarray:
        """The unit "prompt style" direction ``v`` (D,) of the text-shortcut option (its own random stream, so the
        maps above do not depend on it)."""
        v = np.random.default_rng([self.seed, 7919, 1]).normal(size=self.dim)
        return v / np.linalg.norm(v)


def make_split(
    world: SyntheticWorld,
    n_records: int,
    split_seed: int,
    generators: list[int],
    real_every: int = 1,
    prompt_shift: float = 0.0,
    real_caption: Literal["own", "fake_prompt"] = "own",
) -> dict[str, torch.Tensor]:
    """Features of ``n_records`` records: each real (kept for one record in ``real_every``) and one fake per generator
    in ``generators``. ``prompt_shift``: the fakes carry the prompt ``t + prompt_shift * v`` instead of the caption
    ``t``; ``real_caption="fake_prompt"``: the reals carry the fakes' prompt too (the text-shortcut control). Returns
    ``image (N, D)``, ``text (N, D)``, ``label (N,)`` (1 = generated), ``generator (N,)`` (index into
    :data:`GENERATORS`, -1 for reals), float32 / int64."""
    m = world.maps()
    rng = np.random.default_rng([world.seed, split_seed])
    d, k = world.dim, world.latent
    s = rng.normal(size=(n_records, k))  # (R, 16) scenes
    t = s @ m["W_t"].T + 0.3 * rng.normal(size=(n_records, d))  # (R, D) captions
    prompt = t + prompt_shift * world.prompt_direction() if prompt_shift else t  # (R, D) the fakes' prompts
    caption = prompt if real_caption == "fake_prompt" else t  # (R, D) the reals' text
    images, texts, labels, gens = [], [], [], []
    keep_real = np.arange(n_records) % real_every == 0
    real = (s + 1.0 * rng.normal(size=(n_records, k))) @ m["W_i"].T + 0.5 * rng.normal(size=(n_records, d))
    hard = rng.random(n_records) < 0.1
    real = real + 1.5 * hard[:, None] * m["h"]
    images.append(real[keep_real])
    texts.append(caption[keep_real])
    labels.append(np.zeros(keep_real.sum()))
    gens.append(np.full(keep_real.sum(), -1))
    for g in range(len(GENERATORS)):  # draw every generator so a split's fakes do not depend on the list
        fake = (s + 0.3 * rng.normal(size=(n_records, k))) @ m["W_i"].T + 0.5 * rng.normal(size=(n_records, d))
        fake = fake + 0.35 * m["u"][g] + 0.175 * m["h"]
        if g in generators:
            images.append(fake)
            texts.append(prompt)
            labels.append(np.ones(n_records))
            gens.append(np.full(n_records, g))
    return {
        "image": torch.from_numpy(np.concatenate(images)).float(),
        "text": torch.from_numpy(np.concatenate(texts)).float(),
        "label": torch.from_numpy(np.concatenate(labels)).float(),
        "generator": torch.from_numpy(np.concatenate(gens)).long(),
    }
