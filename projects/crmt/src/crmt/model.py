"""The joint multi-modal network of CRMT (paper Sec. 3 and 4.1): one encoder per modality and a linear fusion head.

Two heads:

* ``concat`` (JT, Sec. 3): ``h(x) = W¹φ¹(x¹) + W²φ²(x²) + b``, i.e. one ``Linear(Σ d_m, k)`` on the concatenated
  features. Its uni-modal logits are the column blocks ``o^m = W^m φ^m(x^m)`` (no bias).
* ``crmt`` (Sec. 4.1, "orth" fusion): ``h_k(x) = Σ_m a_k^m (W̃^m φ^m(x^m))_k + b_k`` with class rows of ``W̃^m`` either
  centred and scaled to unit norm (``orth="rownorm"``, what the official OWNNorm with one group per class does) or
  centred and whitened so that the rows are orthonormal (``orth="full"``, the paper: ``W̃ = (ZZᵀ)^{-1/2} Z``).

Every network returns ``(h, [o¹, o²])``: the fused logits and the uni-modal logits.
Encoders: small MLPs (synthetic data), linear maps (tests: exact Lipschitz constants) and ResNet-18 trunks from
torchvision (Kinetics-Sounds / UCF101: spectrograms ``(B, 1, F, T)`` or frame stacks ``(B, C, T, H, W)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CRMTHead",
    "ConcatHead",
    "EncoderKind",
    "FeatureMemory",
    "LinearEncoder",
    "MLPEncoder",
    "MultiModalNet",
    "ResNet18Encoder",
    "build_encoder",
]


class MLPEncoder(nn.Module):
    """``d -> hidden -> out`` with ReLUs (the synthetic-data encoder of the spec's prototype)."""

    def __init__(self, in_dim: int, hidden: int = 64, out_dim: int = 32) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:  # (B, d) -> (B, out)
        return self.net(x)


class LinearEncoder(nn.Module):
    """``φ(x) = A x``: its Lipschitz constants are known exactly (used by the soundness tests)."""

    def __init__(self, in_dim: int, out_dim: int = 32) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.lin = nn.Linear(in_dim, out_dim, bias=True)

    def forward(self, x: Tensor) -> Tensor:  # (B, d) -> (B, out)
        return self.lin(x.flatten(1))


class ResNet18Encoder(nn.Module):
    """torchvision ResNet-18 trunk (no fc), trained from scratch as in the official code.

    ``frames=False``: input ``(B, C, H, W)`` (a spectrogram with C = 1), output the global-average-pooled ``(B, 512)``.
    ``frames=True``: input ``(B, C, T, H, W)``; the T frames go through the 2D net as a ``(B·T)`` batch and the
    features ``(B, 512, T, h, w)`` are 3D-average-pooled (official visual encoder).
    """

    def __init__(self, in_channels: int, frames: bool) -> None:
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.trunk = nn.Sequential(
            net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4
        )
        self.frames = frames
        self.out_dim = 512
        for mod in self.modules():  # official init: Kaiming convs, BN weight ~ N(1, 0.02)
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.normal_(mod.weight, 1.0, 0.02)
                nn.init.zeros_(mod.bias)

    def forward(self, x: Tensor) -> Tensor:
        if not self.frames:
            return F.adaptive_avg_pool2d(self.trunk(x), 1).flatten(1)  # (B, 512)
        b, c, t, h, w = x.shape
        z = self.trunk(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))  # (B·T, 512, h', w')
        z = z.reshape(b, t, *z.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, 512, T, h', w')
        return F.adaptive_avg_pool3d(z, 1).flatten(1)  # (B, 512)


EncoderKind = Literal["mlp", "linear", "resnet18_audio", "resnet18_frames"]


def build_encoder(kind: EncoderKind, in_size: int, hidden: int = 64, embed_dim: int = 32) -> nn.Module:
    """``kind`` in {mlp, linear, resnet18_audio, resnet18_frames}; ``in_size`` = input dim (mlp/linear) or channels."""
    if kind == "mlp":
        return MLPEncoder(in_size, hidden, embed_dim)
    if kind == "linear":
        return LinearEncoder(in_size, embed_dim)
    if kind == "resnet18_audio":
        return ResNet18Encoder(in_size, frames=False)
    if kind == "resnet18_frames":
        return ResNet18Encoder(in_size, frames=True)
    raise ValueError(f"unknown encoder kind {kind!r}; expected mlp, linear, resnet18_audio or resnet18_frames")


class ConcatHead(nn.Module):
    """JT head: ``Linear(Σ d_m, k)`` on the concatenated features; uni-modal logits are its column blocks."""

    def __init__(self, dims: Sequence[int], n_classes: int) -> None:
        super().__init__()
        self.dims = list(dims)
        self.fc = nn.Linear(sum(dims), n_classes)

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
        h = self.fc(torch.cat(list(feats), dim=1))  # (B, k)
        blocks = self.fc.weight.split(self.dims, dim=1)  # M x (k, d_m)
        return h, [f @ w.T for f, w in zip(feats, blocks)]  # M x (B, k)


class CRMTHead(nn.Module):
    """CRMT head (Eq. 9): ``h_k = Σ_m a_k^m (W̃^m φ^m)_k + b_k``; ``a`` is ``(M, k)``, ``W̃^m`` is ``(k, d_m)``."""

    def __init__(self, dims: Sequence[int], n_classes: int, orth: str = "rownorm", a_init: float = 1.0) -> None:
        super().__init__()
        if orth not in ("rownorm", "full"):
            raise ValueError(f"orth must be 'rownorm' or 'full', got {orth!r}")
        if orth == "full" and any(d < n_classes for d in dims):
            raise ValueError(f"orth='full' needs embedding dims >= n_classes ({n_classes}), got {list(dims)}")
        self.orth = orth
        self.weights = nn.ParameterList()
        for d in dims:
            v = torch.empty(n_classes, d)
            nn.init.kaiming_uniform_(v, a=5**0.5)  # nn.Linear's default init
            self.weights.append(nn.Parameter(v))
        self.a = nn.Parameter(torch.full((len(dims), n_classes), float(a_init)))  # (M, k)
        self.bias = nn.Parameter(torch.zeros(n_classes))  # (k,)

    def normalized_weight(self, m: int) -> Tensor:
        """``W̃^m`` (k, d): centred rows with unit norm (rownorm) or orthonormal rows (full)."""
        z = self.weights[m]
        z = z - z.mean(dim=1, keepdim=True)
        if self.orth == "rownorm":
            return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
        # (ZZᵀ)^{-1/2} Z through the eigendecomposition of the k x k Gram matrix
        gram = z @ z.T + 1e-6 * torch.eye(z.shape[0], device=z.device, dtype=z.dtype)
        evals, evecs = torch.linalg.eigh(gram)
        inv_sqrt = evecs @ torch.diag(evals.clamp_min(1e-12).rsqrt()) @ evecs.T
        return inv_sqrt @ z

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
        outs = [f @ self.normalized_weight(m).T for m, f in enumerate(feats)]  # M x (B, k)
        h = sum(self.a[m] * o for m, o in enumerate(outs)) + self.bias  # (B, k)
        return h, outs


class FeatureMemory(nn.Module):
    """External feature memory of one modality (MSEFM's "ExFMem", Tian & Xu, CVPR 2021, our reading).

    ``memory`` (d, N) holds N clean training features of the modality (columns), filled once by :meth:`fill`. A
    feature f (B, d) is sparse-coded on it with ISTA, ``A ← shrink(A − α (A Dᵀ − f) D, α λ)`` from ``A = 0``,
    ``iters`` steps of size ``α = 1/L`` (L = the largest eigenvalue of DᵀD), and replaced by
    ``mix · A Dᵀ + (1 − mix) · f``. Before :meth:`fill` (and with ``N = 0``) it is the identity. Differentiable in f
    (the attacks and the Lipschitz estimate see the memory), the memory itself is a fixed buffer.
    """

    def __init__(self, dim: int, size: int, lam: float = 0.1, mix: float = 0.5, iters: int = 20) -> None:
        super().__init__()
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"memory mix must be in [0, 1], got {mix}")
        if iters < 1:
            raise ValueError(f"memory ISTA iterations must be >= 1, got {iters}")
        self.lam, self.mix, self.iters = float(lam), float(mix), int(iters)
        self.register_buffer("memory", torch.zeros(dim, size))  # D (d, N)
        self.register_buffer("step", torch.zeros(()))  # α = 1 / L
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fill(self, feats: Tensor) -> None:
        """Store ``feats`` (N, d) as the memory's columns and set the ISTA step 1/L."""
        if feats.shape != (self.memory.shape[1], self.memory.shape[0]):
            raise ValueError(f"memory expects ({self.memory.shape[1]}, {self.memory.shape[0]}) features, got "
                             f"{tuple(feats.shape)}")  # fmt: skip
        d = feats.T.to(self.memory)
        self.memory.copy_(d)
        lmax = torch.linalg.matrix_norm(d, ord=2) ** 2
        self.step.fill_(1.0 / float(lmax.clamp_min(1e-12)))
        self.ready.fill_(True)

    def codes(self, f: Tensor) -> Tensor:
        """ISTA sparse codes (B, N) of ``f`` (B, d) on the memory."""
        d, alpha = self.memory, self.step
        a = f.new_zeros(f.shape[0], d.shape[1])
        for _ in range(self.iters):
            z = a - alpha * ((a @ d.T - f) @ d)
            a = z.sign() * (z.abs() - alpha * self.lam).clamp_min(0)
        return a

    def forward(self, f: Tensor) -> Tensor:
        if not bool(self.ready) or self.memory.shape[1] == 0:
            return f
        return self.mix * (self.codes(f) @ self.memory.T) + (1 - self.mix) * f


class MultiModalNet(nn.Module):
    """Encoders + fusion head. ``forward(xs)`` with ``xs = [x¹, x²]`` returns ``(h (B, k), [o¹, o²] each (B, k))``.

    ``memory_size > 0`` puts a :class:`FeatureMemory` after each encoder (MSEFM); it is the identity until filled.
    """

    def __init__(
        self,
        encoders: Sequence[nn.Module],
        n_classes: int,
        fusion: str = "crmt",
        orth: str = "rownorm",
        a_init: float = 1.0,
        memory_size: int = 0,
        memory_lambda: float = 0.1,
        memory_mix: float = 0.5,
        memory_iters: int = 20,
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        dims = [int(e.out_dim) for e in encoders]
        self.memories = (
            nn.ModuleList([FeatureMemory(d, memory_size, memory_lambda, memory_mix, memory_iters) for d in dims])
            if memory_size > 0
            else None
        )
        if fusion == "concat":
            self.head: nn.Module = ConcatHead(dims, n_classes)
        elif fusion == "crmt":
            self.head = CRMTHead(dims, n_classes, orth=orth, a_init=a_init)
        else:
            raise ValueError(f"fusion must be 'concat' (JT) or 'crmt', got {fusion!r}")
        self.fusion = fusion
        self.n_classes = n_classes

    @property
    def n_modalities(self) -> int:
        return len(self.encoders)

    def encode(self, xs: Sequence[Tensor]) -> list[Tensor]:
        """The encoders' features φ^m(x^m), before any feature memory."""
        return [enc(x) for enc, x in zip(self.encoders, xs)]

    def features(self, xs: Sequence[Tensor]) -> list[Tensor]:
        """The features the head sees: φ^m(x^m), through the feature memory when there is one."""
        feats = self.encode(xs)
        if self.memories is None:
            return feats
        return [mem(f) for mem, f in zip(self.memories, feats)]

    def forward(self, xs: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
        return self.head(self.features(xs))
