"""Backbones by name, with the feature maps of their last three stages (LIO Sec. 3: the heads read one stage).

* ``tiny_resnet``: a small ResNet of BasicBlocks (our CPU default, random init);
* ``resnet50`` or ``torchvision:<name>``: a torchvision classification model; ResNet-family models expose
  ``layer2..layer4`` (the paper's conv3 / conv4 / conv5), models with a ``features`` Sequential (ConvNeXt, EfficientNet,
  MobileNet, VGG, DenseNet) expose the last block at each of their last three resolutions;
* ``timm:<name>``: any timm model created with ``features_only=True`` (its last three feature levels).

``pretrained``: ``null`` (random init), ``imagenet`` (the library's ImageNet weights: torchvision's ``DEFAULT`` weights,
timm's default pretrained tag; both download once into the library's cache) or a path to a weights file. A file goes
through the same code path as the library weights: a torchvision ``state_dict`` saved with ``torch.save`` is loaded with
``load_state_dict`` exactly as the downloaded one, and a timm file is handed to timm's own loader through
``pretrained_cfg_overlay={"file": path}``.

Every backbone returns ``{1: conv3-like, 2: conv4-like, 3: conv5-like}`` maps ``(B, C_s, H_s, W_s)``; the classifier
(GAP + Linear) reads stage 3, the last map, at train and test time alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from paperkit.errors import DataNotFoundError, PaperkitError

__all__ = ["Backbone", "TinyResNet", "build_backbone"]


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.down is None else self.down(x)))


class TinyResNet(nn.Module):
    """stem conv3x3 -> layer1..layer4 of BasicBlocks. Stages 1/2/3 = outputs of layer2/3/4 (as conv3/4/5 of ResNet)."""

    def __init__(
        self, widths: Sequence[int] = (16, 32, 64, 128), strides: Sequence[int] = (1, 2, 2, 2), blocks: int = 1,
        stem_stride: int = 1,
    ) -> None:  # fmt: skip
        super().__init__()
        if len(widths) != 4 or len(strides) != 4:
            raise ValueError("tiny_widths and tiny_strides need 4 entries (layer1..layer4)")
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, stem_stride, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        )
        layers, c_in = [], widths[0]
        for w, s in zip(widths, strides):
            layers.append(
                nn.Sequential(*[_BasicBlock(c_in if i == 0 else w, w, s if i == 0 else 1) for i in range(blocks)])
            )
            c_in = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.channels = {1: widths[1], 2: widths[2], 3: widths[3]}

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        x = self.layer1(self.stem(x))  # (B, w0, H/s, W/s)
        c3 = self.layer2(x)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return {1: c3, 2: c4, 3: c5}


class _TorchvisionResNet(nn.Module):
    """A torchvision ResNet-family model without avgpool/fc: stages 1/2/3 = layer2/layer3/layer4 (conv3/4/5)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.channels = {s: _out_channels(layer) for s, layer in zip((1, 2, 3), (net.layer2, net.layer3, net.layer4))}

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        x = self.layer1(self.stem(x))
        c3 = self.layer2(x)  # (B, 512, H/8, W/8) for resnet50
        c4 = self.layer3(c3)  # (B, 1024, H/16, W/16)
        c5 = self.layer4(c4)  # (B, 2048, H/32, W/32)
        return {1: c3, 2: c4, 3: c5}


class _TorchvisionFeatures(nn.Module):
    """A torchvision model with a ``features`` Sequential: the last block at each of its last three resolutions."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.features = net.features
        with torch.no_grad():
            was = self.features.training
            self.features.eval()
            x, sizes = torch.zeros(1, 3, 224, 224), []
            for block in self.features:
                x = block(x)
                sizes.append((x.shape[-1], x.shape[1]))
            self.features.train(was)
        last: dict[int, int] = {}
        for i, (res, _) in enumerate(sizes):
            last[res] = i  # the last block at each resolution
        taps = sorted(last.values())[-3:]
        if len(taps) < 3:
            raise PaperkitError("this torchvision model has fewer than three feature resolutions; use a ResNet or timm")
        self.taps = taps
        self.channels = {s: sizes[i][1] for s, i in zip((1, 2, 3), taps)}

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        out: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.features):
            x = block(x)
            if i in self.taps:
                out[len(out) + 1] = x
            if i == self.taps[-1]:
                break
        return out


class _Timm(nn.Module):
    """A timm model with ``features_only=True``: its last three feature levels."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.channels = dict(zip((1, 2, 3), net.feature_info.channels()))

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        return dict(zip((1, 2, 3), self.net(x)))


Backbone = TinyResNet | _TorchvisionResNet | _TorchvisionFeatures | _Timm


def _out_channels(layer: nn.Module) -> int:
    convs = [m for m in layer.modules() if isinstance(m, nn.Conv2d)]
    block = layer[-1]
    for name in ("bn3", "bn2"):
        bn = getattr(block, name, None)
        if isinstance(bn, nn.BatchNorm2d):
            return bn.num_features
    return convs[-1].out_channels


def _weights_file(pretrained: str) -> Path:
    path = Path(pretrained)
    if not path.is_file():
        raise DataNotFoundError(
            "pretrained weights", path.parent, missing=[path.name],
            hint="--model.pretrained takes null, 'imagenet' or the path of a weights file (a torchvision state_dict "
            "saved with torch.save, or a timm checkpoint / .safetensors file).",
        )  # fmt: skip
    return path


def _torchvision(name: str, pretrained: str | None) -> nn.Module:
    import torchvision

    try:
        net = torchvision.models.get_model(name, weights=None)
    except ValueError as err:
        raise PaperkitError(f"unknown torchvision model '{name}' ({err})") from None
    if pretrained:
        if pretrained == "imagenet":
            state = torchvision.models.get_model_weights(name).DEFAULT.get_state_dict(progress=True)
        else:
            state = torch.load(_weights_file(pretrained), map_location="cpu", weights_only=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else state
        net.load_state_dict(state)  # the same call for the library's weights and for a user's file
    return net


def _timm(name: str, pretrained: str | None) -> nn.Module:
    import timm

    kwargs: dict = {"features_only": True, "out_indices": (-3, -2, -1)}
    if pretrained == "imagenet":
        kwargs["pretrained"] = True
    elif pretrained:
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(_weights_file(pretrained))})
    try:
        return timm.create_model(name, **kwargs)
    except RuntimeError as err:
        if "Unknown model" in str(err):
            raise PaperkitError(f"unknown timm model '{name}'") from None
        raise


def build_backbone(
    name: str,
    pretrained: str | None = None,
    tiny_widths: Sequence[int] = (16, 32, 64, 128),
    tiny_strides: Sequence[int] = (1, 2, 2, 2),
    tiny_blocks: int = 1,
    tiny_stem_stride: int = 1,
) -> Backbone:
    """A backbone by name (module docstring); returns stage maps ``{1, 2, 3}`` and ``.channels``."""
    if name == "tiny_resnet":
        if pretrained:
            raise PaperkitError("tiny_resnet has no pretrained weights: set --model.pretrained null")
        return TinyResNet(tiny_widths, tiny_strides, tiny_blocks, tiny_stem_stride)
    if name.startswith("timm:"):
        return _Timm(_timm(name.removeprefix("timm:"), pretrained))
    net = _torchvision(name.removeprefix("torchvision:"), pretrained)
    if all(hasattr(net, f"layer{i}") for i in (1, 2, 3, 4)):
        return _TorchvisionResNet(net)
    if isinstance(getattr(net, "features", None), nn.Sequential):
        return _TorchvisionFeatures(net)
    raise PaperkitError(f"torchvision model '{name}' has neither layer1..4 nor a features Sequential; use timm:<name>")
