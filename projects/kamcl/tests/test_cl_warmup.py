"""The contrastive warm-up (``model.cl_warmup_steps``): the fix for KAMCL not learning on MovieLens-100K.

Diagnosis (README, "Real data"): both InfoNCE terms use cosine similarity, so their gradient grows as the propagated
embeddings shrink, while BPR's shrinks with them. At the initial norms CL1's gradient on the user table was ~20x
BPR's; under Adam's per-coordinate normalisation CL then sets every update and BPR stays near ln 2 for longer than
the epoch budget. On a dense planted fixture (every user rates 60 of 200 items, like the MovieLens density) the same
happens in miniature; the warm-up lets BPR leave its starting point before the contrastive terms reach full weight.
"""

from pathlib import Path

import numpy as np
import torch

from kamcl.data import KAMCLDataModule
from kamcl.module import KAMCLModule
from paperkit.configs import config_path


def write_dense_ml(root: Path, n_users: int = 150, n_items: int = 200, seed: int = 0) -> None:
    """RecBole atomic files with a planted rank-4 preference: each user's top 30 items liked (5), the next 15
    neutral (3), the next 15 disliked (1); KG: each item's arg-max factor ("genre") and the sign of factor 0."""
    rng = np.random.default_rng(seed)
    pu, qi = rng.normal(size=(n_users, 4)), rng.normal(size=(n_items, 4))
    score = pu @ qi.T + rng.normal(scale=0.5, size=(n_users, n_items))
    rows = []
    for u in range(n_users):
        for k, i in enumerate(np.argsort(-score[u])[:60]):
            rows.append(f"{u + 1}\t{i + 1}\t{5 if k < 30 else 3 if k < 45 else 1}\t{int(rng.integers(1, 10**6))}\n")
    root.mkdir(parents=True, exist_ok=True)
    (root / "ml-100k.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(rows))
    (root / "ml-100k.link").write_text(
        "item_id:token\tentity_id:token\n" + "".join(f"{i + 1}\tm.{i}\n" for i in range(n_items))
    )
    genre, sign = qi.argmax(1), (qi[:, 0] > 0).astype(int)
    kg = [f"m.{i}\tgenre\tg.{genre[i]}\n" for i in range(n_items)] + [
        f"m.{i}\tsign\ts.{sign[i]}\n" for i in range(n_items)
    ]
    (root / "ml-100k.kg").write_text("head_id:token\trelation_id:token\ttail_id:token\n" + "".join(kg))


def _bpr_drop(dm: KAMCLDataModule, steps: int, **kw) -> tuple[float, list[float]]:
    d = dm.data
    sizes = dict(n_users=d.n_users, n_items=d.n_items, n_entities=d.n_entities, n_relations=d.n_relations)
    torch.manual_seed(0)
    m = KAMCLModule(**sizes, n_behaviours=dm.n_behaviours, **kw)
    m.attach_data(dm)
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    hist, it = [], iter(())
    for s in range(steps):
        batch = next(it, None)
        if batch is None:
            it = iter(dm.train_dataloader())
            batch = next(it)
        m.manual_step = s
        terms = m.loss_terms(batch)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        hist.append(float(terms["bpr"]))
    return hist[0] - np.mean(hist[-5:]), hist


def test_warmup_lets_bpr_learn_on_dense_data(tmp_path) -> None:
    write_dense_ml(tmp_path)
    dm = KAMCLDataModule(dataset="movielens_kg", root=str(tmp_path), batch_size=1024, n_sampled_negatives=5)
    dm.setup("fit")
    steps, warm = 60, 20
    ref, _ = _bpr_drop(dm, steps, cl_behaviour_weight=0.0, cl_kg_weight=0.0)  # BPR alone
    got, hist = _bpr_drop(dm, steps, cl_warmup_steps=warm)
    assert ref > 0.1, ref  # the planted preference is learnable
    assert got >= 0.5 * ref, (got, ref)  # at least half of BPR's own progress with both CL terms on
    assert np.mean(hist[-5:]) < np.mean(hist[warm : warm + 5])  # and it keeps learning at full CL weight


def test_warmup_ramps_the_contrastive_weights() -> None:
    m = KAMCLModule(cl_warmup_steps=10)
    scales = []
    for s in (0, 5, 10, 50):
        m.manual_step = s
        scales.append(m.cl_scale())
    assert scales == [0.0, 0.5, 1.0, 1.0]
    assert KAMCLModule().cl_scale() == 1.0  # off by default (the synthetic results were measured without it)
    text = config_path("kamcl", "movielens_kg.yaml").read_text()
    assert "cl_warmup_steps" in text  # the real-data config uses it


def test_warmup_follows_the_trainers_step(fixture_dm) -> None:
    """Inside a Trainer the ramp reads ``global_step`` (the optimiser steps), not ``manual_step``."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    seen: list[float] = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            seen.append(pl_module.cl_scale())

    d = fixture_dm
    m = KAMCLModule(n_users=d.n_users, n_items=d.n_items, n_entities=d.n_entities, n_relations=d.n_relations,
                    n_behaviours=d.n_behaviours, dim=8, cl_warmup_steps=2)  # fmt: skip
    trainer = pl.Trainer(max_steps=4, limit_val_batches=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[Record()])  # fmt: skip
    m.attach_data(d)
    trainer.fit(m, train_dataloaders=DataLoader(d.train_set, batch_size=8, shuffle=True))
    assert seen == [0.0, 0.5, 1.0, 1.0]
