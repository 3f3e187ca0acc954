"""CLI tests: fast_dev_run in an empty folder writes the data, train writes test metrics (print_config: root test)."""

import json

import torch

from kamcl.cli import main
from paperkit.testing import run_cli, tiny_trainer_args

SMALL = ["--data.synthetic_users=100", "--data.synthetic_items=150", "--model.dim=8"]


def test_fast_dev_run(tmp_path) -> None:
    run_cli(main, ["fit", "--trainer.fast_dev_run=true", *SMALL], tmp_path)
    [folder] = (tmp_path / "data" / "kamcl" / "synthetic").glob("synthetic-*")  # keyed by the generator settings
    assert (folder / "trn_buy").is_file() and (folder / "kg.txt").is_file() and (folder / "settings.json").is_file()


def test_train_writes_both_protocols(tmp_path) -> None:
    run = run_cli(main, ["train", *SMALL, "--model.model_name=lightgcn", *tiny_trainer_args()], tmp_path, "kamcl")
    metrics = json.loads((run / "test_metrics.json").read_text())
    for k in (10, 20, 40):
        for m in ("hr", "recall", "ndcg"):
            assert f"test/{m}@{k}" in metrics and f"test/sampled99_{m}@{k}" in metrics


def test_kg_shuffle_reaches_the_models_graph(tmp_path, monkeypatch) -> None:
    """`data.shuffle_kg_relations` permutes the tails of that relation in the KG the trained model uses, with one
    permutation per run seed; heads, other relations and the tail multiset stay as they were."""
    monkeypatch.chdir(tmp_path)
    base = ["fit", "--trainer.fast_dev_run=true", *SMALL]
    kg = {}
    for name, extra in {"plain": [], "s0": ["--seed_everything=0"], "s1": ["--seed_everything=1"]}.items():
        shuffle = [] if name == "plain" else ["--data.shuffle_kg_relations=[2]"]
        kg[name] = main([*base, *shuffle, *extra]).model.graph.kg.clone()
    plain, s0, s1 = kg["plain"], kg["s0"], kg["s1"]
    price = plain[:, 1] == 2
    assert price.any() and torch.equal(plain[:, :2], s0[:, :2])
    assert torch.equal(plain[~price], s0[~price]) and torch.equal(plain[~price], s1[~price])
    assert not torch.equal(plain[price, 2], s0[price, 2])
    assert torch.equal(plain[price, 2].sort().values, s0[price, 2].sort().values)
    assert not torch.equal(s0[price, 2], s1[price, 2])  # a different permutation for another seed
