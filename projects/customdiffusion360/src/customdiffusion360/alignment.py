"""Real-run evaluation (paper Section 5): text alignment (CLIP score) and image alignment (DINO feature similarity).

* ``clip_text``: cosine similarity between the CLIP image embedding of a sample and the CLIP text embedding of its
  prompt with V* replaced by the category word (V* means nothing to CLIP);
* ``dino_image``: cosine similarity between the DINO(v2) [CLS] embeddings of a sample and of the ground-truth
  held-out view at the same camera.

Both models load through transformers' ``from_pretrained`` (a hub id or a local folder); the tests use tiny random
models saved with ``save_pretrained``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["Alignment"]


class Alignment:
    """CLIP text alignment and DINO image alignment for images in [0, 1] (B, 3, H, W)."""

    def __init__(self, clip_model: str, dino_model: str, device: torch.device | str = "cpu") -> None:
        from transformers import AutoImageProcessor, AutoModel, CLIPModel, CLIPProcessor

        self.device = torch.device(device)
        self.clip = CLIPModel.from_pretrained(clip_model).eval().to(self.device)
        self.clip_proc = CLIPProcessor.from_pretrained(clip_model)
        self.dino = AutoModel.from_pretrained(dino_model).eval().to(self.device)
        self.dino_proc = AutoImageProcessor.from_pretrained(dino_model)

    @staticmethod
    def _pil(images: torch.Tensor) -> list:
        from PIL import Image

        arr = (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        return [Image.fromarray(a) for a in arr]

    @torch.no_grad()
    def clip_text(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """(B,) cosine similarity of image and prompt embeddings."""
        inp = self.clip_proc(text=prompts, images=self._pil(images), return_tensors="pt", padding=True)
        inp = {k: v.to(self.device) for k, v in inp.items()}
        img = self.clip.get_image_features(pixel_values=inp["pixel_values"])
        txt = self.clip.get_text_features(input_ids=inp["input_ids"], attention_mask=inp.get("attention_mask"))
        return F.cosine_similarity(img, txt, dim=-1).cpu()

    @torch.no_grad()
    def dino_image(self, images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """(B,) cosine similarity of the [CLS] embeddings of ``images`` and ``references`` (both in [0, 1])."""

        def embed(x: torch.Tensor) -> torch.Tensor:
            inp = self.dino_proc(images=self._pil(x), return_tensors="pt")
            return self.dino(pixel_values=inp["pixel_values"].to(self.device)).last_hidden_state[:, 0]

        return F.cosine_similarity(embed(images), embed(references), dim=-1).cpu()
