"""The Diff-ST denoiser (paper Sec. 2, Fig. 2): a conditional U-Net whose skips fuse three encoders (noisy HR map,
low-resolution spot map through a gene-correlation graph, tissue-level histology), with a cell-level histology
branch, cell->tissue cross-attention with a tile curriculum, common/distinct disentangling and cross-modal adaptive
modulation at the bottleneck.

::

    y (B,G,L,L) --GCN(A)--> spot encoder --+
    x_t (B,G,H,H) --------> x encoder -----+-- skips (h_x + up(h_spot) + h_wsi) / 3 ---------> decoder -> (eps, v)
    I (B,3,H,H) ----------> WSI encoder ---+                                                     ^
    tiles (B,N,3,t,t) -> conv, mean of the first ratio*N tiles -> cross-attn(Q=WSI, K/V=cells)  |
       -> wsi_att; wsi_att and up(spot) -> conv_common / conv_distinct -> modulation              |
       -> cond = [com, dist_wsi', dist_spot'] -> cross-attn(Q=h_x, K/V=cond) replaces h_x -> middle

Every size comes from :class:`DiffSTConfig` (genes, LR/HR sizes, tiles, channels): nothing is fixed to 26 or 256.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DiffSTConfig", "DiffSTUNet", "ModelOutput", "timestep_embedding"]


@dataclass
class DiffSTConfig:
    genes: int = 8  # G
    lr_size: int = 8  # L (26 in the paper)
    hr_size: int = 32  # H (256 in the paper); the bottleneck is H/4
    tile_size: int = 8  # t (16 in the paper)
    n_tiles: int = 16  # N (256 in the paper)
    channels: int = 32  # C (128 in the paper)
    norm_groups: int = 8  # GroupNorm groups (32 in the paper)
    dropout: float = 0.0
    learn_sigma: bool = True  # output 2G channels: eps and the variance interpolation v
    use_histology: bool = True  # False: the bare denoiser (no WSI encoder, cell branch, attention, modulation)
    gcn_mix: float = 0.02  # y <- (1 - gcn_mix) y + gcn_mix Z
    attn_mix: float = 0.1  # wsi_att = (1 - attn_mix) h_wsi + attn_mix attn
    modulation_mix: float = 0.1  # S_out = (1 - mix) S + mix S'
    official_alias: bool = False  # official code: the modulated maps overwrite the distinct ones (mix is a no-op)

    def __post_init__(self) -> None:
        if self.hr_size % 8:
            raise ValueError(
                f"hr_size must be divisible by 8 (bottleneck H/4 split into 2x2 parts), got {self.hr_size}"
            )
        if self.lr_size < 4:
            raise ValueError(f"lr_size must be >= 4 (two 2x downsamplings), got {self.lr_size}")
        if self.channels % self.norm_groups or (self.channels // 2) % 2:
            raise ValueError(f"channels ({self.channels}) must be divisible by norm_groups ({self.norm_groups}) and 4")
        if self.n_tiles < 1 or self.tile_size < 1 or self.genes < 1:
            raise ValueError("genes, n_tiles and tile_size must be positive")

    @property
    def bottleneck(self) -> int:
        return self.hr_size // 4

    @property
    def out_channels(self) -> int:
        return 2 * self.genes if self.learn_sigma else self.genes


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (B,) timesteps -> (B, dim), as in DDPM / improved diffusion."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """GN-SiLU-conv, FiLM scale-shift from the time embedding, GN-SiLU-dropout-zero-conv; optional 2x down/up."""

    def __init__(self, cin: int, cout: int, emb: int, groups: int, dropout: float, resample: str = "none") -> None:
        super().__init__()
        self.resample = resample
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, 2 * cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def _rs(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(x))
        h, x = self._rs(h), self._rs(x)
        h = self.conv1(h)  # (B, cout, h, w)
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)))
        return self.skip(x) + h


class Encoder(nn.Module):
    """conv3x3(in -> C), then ResBlock, DownResBlock, ResBlock, DownResBlock, ResBlock: six feature maps."""

    def __init__(self, cin: int, c: int, emb: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(cin, c, 3, padding=1)
        kinds = ["none", "down", "none", "down", "none"]
        self.blocks = nn.ModuleList(ResBlock(c, c, emb, groups, dropout, k) for k in kinds)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> list[torch.Tensor]:
        hs = [self.conv_in(x)]
        for block in self.blocks:
            hs.append(block(hs[-1], emb))
        return hs  # sizes S, S, S/2, S/2, S/4, S/4


class GeneGraph(nn.Module):
    """Gene-correlation graph on the spot map (Sec. 2.2): y1 = SiLU(conv(y)); Z = ReLU(A^T (X W)) over genes, with
    X the flattened y1 (B, G, L^2) and W in R^{L^2 x L^2}; y <- (1 - m) y + m Z. A is passed in (a buffer)."""

    def __init__(self, genes: int, lr_size: int, mix: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(genes, genes, 3, padding=1)
        self.weight = nn.Linear(lr_size * lr_size, lr_size * lr_size, bias=False)
        self.mix = mix

    def forward(self, y: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        b, g, h, w = y.shape
        x = F.silu(self.conv(y)).flatten(2)  # (B, G, L^2)
        z = torch.einsum("hg,bhn->bgn", adj, self.weight(x))  # A^T (X W): (B, G, L^2)
        z = F.relu(z).view(b, g, h, w)
        return (1 - self.mix) * y + self.mix * z


class CrossAttention(nn.Module):
    """Single-head softmax(Q K^T / sqrt(C)) V over flattened feature maps (tokens = pixels)."""

    def __init__(self, q_dim: int, kv_dim: int, dim: int) -> None:
        super().__init__()
        self.q = nn.Linear(q_dim, dim)
        self.k = nn.Linear(kv_dim, dim)
        self.v = nn.Linear(kv_dim, dim)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, _, h, w = query.shape
        q = self.q(query.flatten(2).transpose(1, 2))  # (B, hw, C)
        kv = context.flatten(2).transpose(1, 2)  # (B, n, Ck)
        out = F.scaled_dot_product_attention(q, self.k(kv), self.v(kv))  # (B, hw, C)
        return out.transpose(1, 2).reshape(b, -1, h, w)


class Modulation(nn.Module):
    """Cross-modal adaptive modulation (Sec. 2.3): on each of the 2x2 parts (P tokens, D channels) of the distinct
    maps S (spot) and W (WSI): S' = S softmax(Lin1(S^T W)), W' = W softmax(Lin2(W^T S)), Lin: R^P -> R^P."""

    def __init__(self, part_tokens: int) -> None:
        super().__init__()
        self.lin_s = nn.Linear(part_tokens, part_tokens)
        self.lin_w = nn.Linear(part_tokens, part_tokens)

    @staticmethod
    def _parts(x: torch.Tensor) -> torch.Tensor:
        b, d, h, w = x.shape  # -> (B*4, D, P) with P = (h/2)(w/2)
        x = x.view(b, d, 2, h // 2, 2, w // 2).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(b * 4, d, (h // 2) * (w // 2))

    @staticmethod
    def _merge(x: torch.Tensor, b: int, h: int, w: int) -> torch.Tensor:
        d = x.shape[1]
        x = x.view(b, 2, 2, d, h // 2, w // 2).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(b, d, h, w)

    def forward(self, s: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, hh, ww = s.shape
        sp, wp = self._parts(s), self._parts(w)  # (B*4, D, P)
        s_mod = sp @ self.lin_s(sp.transpose(1, 2) @ wp).softmax(dim=-1)  # (B*4, D, P)
        w_mod = wp @ self.lin_w(wp.transpose(1, 2) @ sp).softmax(dim=-1)
        return self._merge(s_mod, b, hh, ww), self._merge(w_mod, b, hh, ww)


@dataclass
class ModelOutput:
    out: torch.Tensor  # (B, 2G or G, H, H): eps (and v)
    com_wsi: torch.Tensor | None = None  # (B, C/2, H/4, H/4)
    com_spot: torch.Tensor | None = None
    dist_wsi: torch.Tensor | None = None
    dist_spot: torch.Tensor | None = None


class DiffSTUNet(nn.Module):
    """The Diff-ST denoiser ``(x_t, t, y, image, tiles, adj, ratio) -> ModelOutput``."""

    def __init__(self, cfg: DiffSTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c, g, emb, grp, dr = cfg.channels, cfg.genes, 4 * cfg.channels, cfg.norm_groups, cfg.dropout
        self.time_embed = nn.Sequential(nn.Linear(c, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.gcn = GeneGraph(g, cfg.lr_size, cfg.gcn_mix)
        self.enc_x = Encoder(g, c, emb, grp, dr)
        self.enc_spot = copy.deepcopy(self.enc_x)  # an independent copy of the x-encoder (official code)
        if cfg.use_histology:
            self.enc_wsi = Encoder(3, c, emb, grp, dr)
            for i in (0, 2, 4):  # the x- and WSI-encoders share their non-downsampling ResBlocks (official code)
                self.enc_wsi.blocks[i] = self.enc_x.blocks[i]
            self.cell_conv = nn.Conv2d(3, c, 3, padding=1)  # one conv per 16x16 tile (official code)
            self.cell_attn = CrossAttention(c, c, c)
            self.conv_common = nn.Sequential(nn.Conv2d(c, c // 2, 3, padding=1), nn.SiLU())
            self.conv_distinct = nn.Sequential(nn.Conv2d(c, c // 2, 3, padding=1), nn.SiLU())
            self.modulation = Modulation((cfg.bottleneck // 2) ** 2)
            self.cond_attn = CrossAttention(c, 3 * (c // 2), c)
        self.middle = ResBlock(c, c, emb, grp, dr)
        # decoder: 3 levels x 2 ResBlocks over concatenated skips, an up-ResBlock between levels
        self.dec = nn.ModuleList()
        for level in range(3):
            for _ in range(2):
                self.dec.append(ResBlock(2 * c, c, emb, grp, dr))
            if level < 2:
                self.dec.append(ResBlock(c, c, emb, grp, dr, "up"))
        self.out_norm = nn.GroupNorm(grp, c)
        self.out_conv = _zero(nn.Conv2d(c, cfg.out_channels, 3, padding=1))

    def _cells(self, tiles: torch.Tensor, ratio: float) -> torch.Tensor:
        """(B, N, 3, t, t) entropy-sorted tiles -> mean conv feature of the first ceil(ratio N) tiles, (B, C, t, t)."""
        b, n = tiles.shape[:2]
        k = max(1, min(n, math.ceil(ratio * n)))
        f = self.cell_conv(tiles[:, :k].flatten(0, 1))  # (B*k, C, t, t)
        return f.view(b, k, *f.shape[1:]).mean(dim=1)

    def forward(
        self,
        x: torch.Tensor,  # (B, G, H, H) noisy HR map
        t: torch.Tensor,  # (B,) timesteps
        y: torch.Tensor,  # (B, G, L, L) spot map
        image: torch.Tensor,  # (B, 3, H, H) tissue-level histology in [0, 1]
        tiles: torch.Tensor,  # (B, N, 3, t, t) cell-level tiles in [0, 1]
        adj: torch.Tensor,  # (G, G) gene graph
        ratio: float = 1.0,  # curriculum: fraction of the entropy-sorted tiles used
    ) -> ModelOutput:
        cfg = self.cfg
        emb = self.time_embed(timestep_embedding(t, cfg.channels))  # (B, 4C)
        y = self.gcn(y, adj)  # (B, G, L, L)
        hx = self.enc_x(x, emb)  # 6 x (B, C, H..H/4)
        hs_spot = self.enc_spot(y, emb)  # 6 x (B, C, L..L/4)
        up = [F.interpolate(s, size=h.shape[-2:], mode="nearest") for s, h in zip(hs_spot, hx)]
        out = ModelOutput(out=x)
        if cfg.use_histology:
            hw = self.enc_wsi(image, emb)
            skips = [(a + b + c) / 3 for a, b, c in zip(hx, up, hw)]
            cells = F.interpolate(self._cells(tiles, ratio), size=hw[-1].shape[-2:], mode="nearest")  # (B,C,H/4,H/4)
            wsi_att = (1 - cfg.attn_mix) * hw[-1] + cfg.attn_mix * self.cell_attn(hw[-1], cells)
            spot = up[-1]  # final spot feature, nearest-up to the bottleneck
            com_w, com_s = self.conv_common(wsi_att), self.conv_common(spot)
            dist_w, dist_s = self.conv_distinct(wsi_att), self.conv_distinct(spot)
            s_mod, w_mod = self.modulation(dist_s, dist_w)
            if cfg.official_alias:  # the official in-place aliasing: fully modulated, and L_dis sees the modulated maps
                dist_s, dist_w = s_mod, w_mod
                s_out, w_out = s_mod, w_mod
            else:
                m = cfg.modulation_mix
                s_out, w_out = (1 - m) * dist_s + m * s_mod, (1 - m) * dist_w + m * w_mod
            cond = torch.cat([(com_w + com_s) / 2, w_out, s_out], dim=1)  # (B, 1.5C, H/4, H/4)
            h = self.cond_attn(hx[-1], cond)  # replaces h_x (no residual, official code)
            out = ModelOutput(out=x, com_wsi=com_w, com_spot=com_s, dist_wsi=dist_w, dist_spot=dist_s)
        else:
            skips = [(a + b) / 2 for a, b in zip(hx, up)]
            h = hx[-1]
        h = self.middle(h, emb)
        i = 0
        for level in range(3):
            for _ in range(2):
                h = self.dec[i](torch.cat([h, skips.pop()], dim=1), emb)
                i += 1
            if level < 2:
                h = self.dec[i](h, emb)
                i += 1
        out.out = self.out_conv(F.silu(self.out_norm(h)))  # (B, 2G, H, H)
        return out
