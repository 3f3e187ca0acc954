"""The frozen text-to-image base (paper Section 3.1): SDXL through diffusers, or a tiny pixel-space stand-in.

Both are loaded the way the diffusers training examples load SDXL: one ``from_pretrained(path_or_hub_id,
subfolder=...)`` per component (``unet``, ``text_encoder`` [+ ``text_encoder_2``], ``tokenizer`` [+ ``tokenizer_2``],
``vae``, ``scheduler``), so a local folder written by ``save_pretrained`` and a hub name take the same code path.

* ``sdxl``: UNet2DConditionModel (latent 4 x 64 x 64 at 512 px), CLIP-L + OpenCLIP-bigG text encoders (penultimate
  hidden states concatenated, pooled bigG embedding + size/crop ``time_ids`` as added conditioning), AutoencoderKL;
* ``pixel``: a tiny UNet2DConditionModel on 3 x 32 x 32 images and one tiny CLIPTextModel, built from config by
  :func:`build_tiny_base` (no download); the embedded default pre-trains it briefly and freezes it.

The new token ``<new1>`` (V*) is added to every tokenizer; its embedding rows live in :class:`NewTokenEmbedding`,
which wraps the frozen token embedding of each text encoder (the only trainable text parameters).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

__all__ = [
    "Base",
    "NewTokenEmbedding",
    "TextCondition",
    "TinyBaseConfig",
    "build_clip_tokenizer",
    "build_tiny_base",
    "load_base",
]

log = logging.getLogger(__name__)

BaseKind = Literal["pixel", "sdxl"]


@dataclass
class TinyBaseConfig:
    """Sizes of the embedded default's base: a pixel-space UNet2DConditionModel and a tiny CLIP text encoder."""

    image_size: int = 32
    block_out_channels: tuple[int, ...] = (16, 32, 32)
    layers_per_block: int = 1
    attention_head_dim: int = 8
    norm_num_groups: int = 8
    text_dim: int = 32
    text_layers: int = 2
    text_heads: int = 2
    max_length: int = 12

    def __post_init__(self) -> None:
        self.block_out_channels = tuple(self.block_out_channels)
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(
                f"block_out_channels {self.block_out_channels} must be divisible by {self.norm_num_groups}"
            )
        if self.image_size % 2 ** (len(self.block_out_channels) - 1):
            raise ValueError("image_size must be divisible by 2^(levels - 1)")


@dataclass
class TextCondition:
    """The UNet's text inputs: cross-attention context (B, L, D) and SDXL's added conditioning (or None)."""

    context: torch.Tensor
    added: dict[str, torch.Tensor] | None = None

    def cat(self, *others: TextCondition) -> TextCondition:
        ctx = torch.cat([self.context, *(o.context for o in others)])
        added = (
            None
            if self.added is None
            else {k: torch.cat([self.added[k], *(o.added[k] for o in others)]) for k in self.added}
        )
        return TextCondition(ctx, added)

    def repeat(self, n: int) -> TextCondition:
        """Each sample repeated n times consecutively (for the N reference views of a sample)."""
        added = None if self.added is None else {k: v.repeat_interleave(n, 0) for k, v in self.added.items()}
        return TextCondition(self.context.repeat_interleave(n, 0), added)


# ---------------------------------------------------------------------------------------------------------------------
# Tokenizer and the new-token embedding
# ---------------------------------------------------------------------------------------------------------------------
def build_clip_tokenizer(folder: str | Path, words: list[str], max_length: int = 77):
    """A CLIPTokenizer over CLIP's 512 byte-level base symbols plus merges that make each of ``words`` one token.

    Written in the official vocab.json / merges.txt format, so ``CLIPTokenizer.from_pretrained`` reads it back.
    """
    from transformers import CLIPTokenizer
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for s in [*symbols, *(s + "</w>" for s in symbols)]:
        vocab.setdefault(s, len(vocab))
    merges: list[str] = []
    for word in words:
        parts = [*word[:-1], word[-1] + "</w>"]
        left = parts[0]
        for right in parts[1:]:
            merge = f"{left} {right}"
            if merge not in merges:
                merges.append(merge)
            left = left + right
            vocab.setdefault(left, len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab.setdefault(special, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length)
    tok.save_pretrained(folder)
    return tok


class NewTokenEmbedding(nn.Module):
    """A frozen ``nn.Embedding`` of V rows plus trainable rows for the added tokens (ids V, V+1, ...)."""

    def __init__(self, base: nn.Embedding, first_new_id: int, n_new: int, init_ids: list[int]) -> None:
        super().__init__()
        self.base = base
        self.base_vocab = first_new_id  # the tokenizer's id of the first added token
        self.new_token_rows = nn.Parameter(base.weight.detach()[init_ids].clone().reshape(n_new, -1))

    @property
    def weight(self) -> torch.Tensor:  # transformers reads .weight (dtype, device)
        return self.base.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        is_new = ids >= self.base_vocab  # (B, L)
        out = self.base(ids.clamp(max=self.base.num_embeddings - 1))  # (B, L, D)
        if is_new.any():
            rows = self.new_token_rows[(ids - self.base_vocab).clamp(min=0)]  # (B, L, D)
            out = torch.where(is_new.unsqueeze(-1), rows, out)
        return out


# ---------------------------------------------------------------------------------------------------------------------
# The base model
# ---------------------------------------------------------------------------------------------------------------------
class Base(nn.Module):
    """Frozen UNet + text encoder(s) (+ VAE) + scheduler config, with the V* token added to every tokenizer."""

    def __init__(
        self,
        kind: BaseKind,
        unet: nn.Module,
        text_encoders: list[nn.Module],
        tokenizers: list,
        vae: nn.Module | None,
        scheduler_config: dict,
        new_tokens: tuple[str, ...] = ("<new1>",),
        init_token: str | int | None = None,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.unet = unet
        self.text_encoders = nn.ModuleList(text_encoders)
        self.tokenizers = tokenizers
        self.vae = vae
        self.scheduler_config = dict(scheduler_config)
        self.image_size = image_size
        self.new_tokens = tuple(new_tokens)
        for p in self.parameters():
            p.requires_grad_(False)
        self.token_embeddings = nn.ModuleList()
        for tok, enc in zip(tokenizers, text_encoders):
            tok.add_tokens(list(new_tokens))
            emb = enc.get_input_embeddings()
            init = _init_id(tok, init_token, emb.num_embeddings)
            first = int(tok.convert_tokens_to_ids(new_tokens[0]))
            wrapped = NewTokenEmbedding(emb, first, len(new_tokens), [init] * len(new_tokens))
            enc.text_model.embeddings.token_embedding = wrapped
            self.token_embeddings.append(wrapped)
        self.eval()

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def latent_size(self) -> int:
        if self.vae is None:
            return self.image_size
        return self.image_size // 2 ** (len(self.vae.config.block_out_channels) - 1)  # SDXL's VAE: / 8

    def tokenize(self, prompts: list[str], device: torch.device) -> list[torch.Tensor]:
        return [
            tok(
                list(prompts),
                padding="max_length",
                max_length=tok.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids.to(device)
            for tok in self.tokenizers
        ]

    def encode_text(self, prompts: list[str], device: torch.device) -> TextCondition:
        """Prompts -> cross-attention context (and SDXL's pooled embedding + size/crop time ids)."""
        ids = self.tokenize(prompts, device)
        if self.kind == "pixel":
            return TextCondition(self.text_encoders[0](ids[0]).last_hidden_state)  # (B, L, D)
        hidden, pooled = [], None
        for enc, i in zip(self.text_encoders, ids):
            out = enc(i, output_hidden_states=True)
            hidden.append(out.hidden_states[-2])  # penultimate layer, as SDXL
            pooled = out[0] if out[0].dim() == 2 else pooled  # CLIPTextModelWithProjection: text_embeds (B, 1280)
        s = self.image_size
        time_ids = torch.tensor([[s, s, 0, 0, s, s]], dtype=hidden[0].dtype, device=device).expand(len(prompts), 6)
        return TextCondition(torch.cat(hidden, -1), {"text_embeds": pooled, "time_ids": time_ids})  # (B, 77, 2048)

    def to_latent(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [-1, 1] (B, 3, H, W) -> the UNet's space (pixel: unchanged; SDXL: scaled VAE latents)."""
        if self.vae is None:
            return images
        with torch.no_grad():
            dist = self.vae.encode(images.to(self.vae.dtype)).latent_dist
            return (dist.sample(generator) * self.vae.config.scaling_factor).float()

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        if self.vae is None:
            return z.clamp(-1, 1)
        with torch.no_grad():
            return self.vae.decode(z.to(self.vae.dtype) / self.vae.config.scaling_factor).sample.float().clamp(-1, 1)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the base in the diffusers/transformers folder layout (without the added token)."""
        folder = Path(folder)
        wrapped = [
            (blocks, i, blk)
            for m in self.unet.modules()
            if hasattr(m, "transformer_blocks")
            for blocks in [m.transformer_blocks]
            for i, blk in enumerate(blocks)
            if hasattr(blk, "pose_nerf")
        ]
        for blocks, i, blk in wrapped:  # save the plain base: the pose blocks' wrapped blocks go back in place
            blocks[i] = blk.block
        try:
            self.unet.save_pretrained(folder / "unet")
        finally:
            for blocks, i, blk in wrapped:
                blocks[i] = blk
        for i, (enc, tok) in enumerate(zip(self.text_encoders, self.tokenizers)):
            suffix = "" if i == 0 else f"_{i + 1}"
            emb = enc.text_model.embeddings.token_embedding
            enc.text_model.embeddings.token_embedding = emb.base  # the saved encoder is the plain base one
            try:
                enc.save_pretrained(folder / f"text_encoder{suffix}")
            finally:
                enc.text_model.embeddings.token_embedding = emb
            tok_copy = _fresh_tokenizer(tok, self.new_tokens)
            tok_copy.save_pretrained(folder / f"tokenizer{suffix}")
        if self.vae is not None:
            self.vae.save_pretrained(folder / "vae")
        from diffusers import DDPMScheduler

        DDPMScheduler.from_config(self.scheduler_config).save_pretrained(folder / "scheduler")
        (folder / "base.json").write_text(json.dumps({"kind": self.kind, "image_size": self.image_size}))
        return folder


def _fresh_tokenizer(tok, new_tokens: tuple[str, ...]):
    """A copy of ``tok`` without the added tokens (for saving the base as it was)."""
    import copy

    clone = copy.deepcopy(tok)
    for t in new_tokens:
        idx = clone.convert_tokens_to_ids(t)
        clone._added_tokens_decoder.pop(idx, None)
        clone._added_tokens_encoder.pop(t, None)
    return clone


def _init_id(tok, init_token: str | int | None, vocab: int) -> int:
    if isinstance(init_token, int):
        if not 0 <= init_token < vocab:
            raise ValueError(f"init_token id {init_token} is outside the vocabulary of {vocab}")
        return init_token
    word = init_token or "a"
    ids = tok(word, add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise ValueError(f"init_token '{word}' is not one token of the tokenizer ({ids})")
    return int(ids[0])


def build_tiny_base(
    cfg: TinyBaseConfig,
    words: list[str],
    seed: int = 0,
    new_tokens: tuple[str, ...] = ("<new1>",),
    init_token: str | int | None = None,
) -> Base:
    """A randomly initialised tiny pixel-space base built from config (in memory; ``Base.save_pretrained`` writes
    it in the diffusers folder layout that :func:`load_base` reads)."""
    import tempfile

    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        build_clip_tokenizer(tmp, words, cfg.max_length)
        tok = CLIPTokenizer.from_pretrained(tmp)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    levels = len(cfg.block_out_channels)
    unet = UNet2DConditionModel(
        sample_size=cfg.image_size,
        in_channels=3,
        out_channels=3,
        block_out_channels=cfg.block_out_channels,
        down_block_types=("DownBlock2D", *("CrossAttnDownBlock2D",) * (levels - 1)),
        up_block_types=(*("CrossAttnUpBlock2D",) * (levels - 1), "UpBlock2D"),
        layers_per_block=cfg.layers_per_block,
        cross_attention_dim=cfg.text_dim,
        attention_head_dim=cfg.attention_head_dim,
        norm_num_groups=cfg.norm_num_groups,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tok),
            hidden_size=cfg.text_dim,
            intermediate_size=2 * cfg.text_dim,
            num_hidden_layers=cfg.text_layers,
            num_attention_heads=cfg.text_heads,
            max_position_embeddings=cfg.max_length,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
    )
    torch.random.set_rng_state(gen_state)
    sched = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    return Base("pixel", unet, [text], [tok], None, dict(sched.config), new_tokens, init_token, cfg.image_size)


def load_base(
    name_or_path: str | Path,
    kind: BaseKind,
    new_tokens: tuple[str, ...] = ("<new1>",),
    init_token: str | int | None = None,
    image_size: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Base:
    """Load every component with ``from_pretrained(name_or_path, subfolder=...)`` (a hub id or a local folder)."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    src = str(name_or_path)
    unet = UNet2DConditionModel.from_pretrained(src, subfolder="unet", torch_dtype=dtype, low_cpu_mem_usage=False)
    sched = DDPMScheduler.from_pretrained(src, subfolder="scheduler")
    tok = CLIPTokenizer.from_pretrained(src, subfolder="tokenizer")
    enc = CLIPTextModel.from_pretrained(src, subfolder="text_encoder", dtype=dtype)
    if kind == "pixel":
        size = image_size or int(unet.config.sample_size)
        return Base("pixel", unet, [enc], [tok], None, dict(sched.config), new_tokens, init_token, size)
    tok2 = CLIPTokenizer.from_pretrained(src, subfolder="tokenizer_2")
    enc2 = CLIPTextModelWithProjection.from_pretrained(src, subfolder="text_encoder_2", dtype=dtype)
    vae = AutoencoderKL.from_pretrained(src, subfolder="vae", torch_dtype=dtype, low_cpu_mem_usage=False)
    size = image_size or int(unet.config.sample_size) * 8
    return Base("sdxl", unet, [enc, enc2], [tok, tok2], vae, dict(sched.config), new_tokens, init_token, size)
