"""A toy project used by paperkit's own tests: a linear classifier on seeded Gaussian blobs, with dropout."""

from __future__ import annotations

import torch
from pytorch_lightning import LightningDataModule, LightningModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from paperkit.cli import PaperCLI, cli_main
from paperkit.errors import DataNotFoundError


class ToyData(LightningDataModule):
    def __init__(self, n: int = 256, dim: int = 8, n_classes: int = 3, batch_size: int = 32, root: str = "") -> None:
        super().__init__()
        self.n, self.dim, self.n_classes, self.batch_size, self.root = n, dim, n_classes, batch_size, root

    def setup(self, stage: str | None = None) -> None:
        if self.root:
            raise DataNotFoundError("toy", self.root, missing=["toy.npy"], expected=["toy.npy"], source="nowhere")
        g = torch.Generator().manual_seed(123)
        centers = torch.randn(self.n_classes, self.dim, generator=g) * 3
        y = torch.randint(0, self.n_classes, (self.n,), generator=g)
        x = centers[y] + torch.randn(self.n, self.dim, generator=g)
        self.train_set = TensorDataset(x[: self.n // 2], y[: self.n // 2])
        self.val_set = TensorDataset(x[self.n // 2 :], y[self.n // 2 :])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)


class ToyModule(LightningModule):
    def __init__(self, dim: int = 8, n_classes: int = 3, hidden: int = 16, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.3), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.log(f"{stage}/loss", loss)
        self.log(f"{stage}/acc", (logits.argmax(-1) == y).float().mean())
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class ToyCLI(PaperCLI):
    slug = "paperkit_toy"

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.n_classes", "model.n_classes")
        parser.link_arguments("data.dim", "model.dim")


def main(args: list[str] | None = None) -> ToyCLI | None:
    return cli_main(ToyCLI, ToyModule, ToyData, args)
