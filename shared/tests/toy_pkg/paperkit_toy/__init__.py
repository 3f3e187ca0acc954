"""A toy project used by paperkit's own tests: a linear classifier on seeded Gaussian blobs, with dropout."""

from __future__ import annotations

from pathlib import Path

import torch
from pytorch_lightning import LightningDataModule, LightningModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from paperkit.cli import PaperCLI, cli_main
from paperkit.errors import DataFormatError, DataNotFoundError
from paperkit.report import PredictionWriter


class ToyData(LightningDataModule):
    def __init__(
        self,
        n: int = 256,
        dim: int = 8,
        n_classes: int = 3,
        batch_size: int = 32,
        root: str = "",
        predict_file: str = "",
    ) -> None:
        super().__init__()
        self.n, self.dim, self.n_classes, self.batch_size, self.root = n, dim, n_classes, batch_size, root
        self.predict_file = predict_file

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

    def predict_dataloader(self) -> DataLoader:
        """Rows of a user's ``.npy`` file of shape (N, dim)."""
        import numpy as np

        path = Path(self.predict_file)
        if not path.is_file():
            raise DataNotFoundError("toy predict file", path.parent, missing=[path.name], expected=["x.npy"])
        try:
            x = torch.as_tensor(np.load(path, allow_pickle=False), dtype=torch.float32)
        except (ValueError, OSError) as err:
            raise DataFormatError(
                path, f"not a NumPy .npy array ({err})", expected=f"an (N, {self.dim}) array"
            ) from None
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise DataFormatError(path, f"shape {tuple(x.shape)}", expected=f"an (N, {self.dim}) array")
        return DataLoader(TensorDataset(x, torch.arange(len(x))), batch_size=self.batch_size)


class ToyModule(LightningModule):
    def __init__(self, dim: int = 8, n_classes: int = 3, hidden: int = 16, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.3), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss_terms(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss": nn.functional.cross_entropy(self(x), y)}

    def predict_outputs(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self(batch[0]).softmax(-1)  # (B, K)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        loss = self.loss_terms(batch)["loss"]
        self.log(f"{stage}/loss", loss)
        self.log(f"{stage}/acc", (self(x).argmax(-1) == y).float().mean())
        return loss

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> list[dict]:
        probs = self.predict_outputs(batch)
        return [{"id": int(i), "pred": int(p.argmax()), **{f"p_{k}": float(v) for k, v in enumerate(p)}}
                for i, p in zip(batch[1], probs)]  # fmt: skip

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
    parse_links = (("data.n_classes", "model.n_classes"), ("data.dim", "model.dim"))
    predict_input = "data.predict_file"
    predict_input_suffix = ".npy"
    extra_callbacks = (PredictionWriter,)


def main(args: list[str] | None = None) -> ToyCLI | None:
    return cli_main(ToyCLI, ToyModule, ToyData, args)
