"""Real-format loader on fixtures, clear errors, validation carve-out, synthetic generator."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from kamcl.data import KAMCLDataModule, sample_negatives
from kamcl.datasets import SyntheticConfig, carve_validation, load_cml, shuffle_relation_tails
from kamcl.datasets.synthetic import generate
from paperkit.errors import DataFormatError, DataNotFoundError


def test_loader_reads_fixture(cml_root) -> None:
    root, written = cml_root
    mats, test, kg = load_cml(root, ["pv", "fav", "cart", "buy"])
    assert set(mats) == {"pv", "fav", "cart", "buy"}
    for b, m in mats.items():
        assert (m != written["mats"][b]).nnz == 0
        assert m.data.min() > 1e9  # timestamps, not ones
    assert test[-1] == -1 and (test[:-1] == 0).all()
    assert kg.shape == (40, 3)


def test_datamodule_on_fixture(cml_root) -> None:
    root, written = cml_root
    dm = KAMCLDataModule(dataset="tmall", root=str(root), n_sampled_negatives=5)
    dm.setup("fit")
    assert (dm.n_users, dm.n_items) == (12, 20)
    assert dm.n_entities == written["n_entities"] and dm.n_relations == 2
    assert len(dm.graph.adj) == 4
    # the validation item is the latest purchase (item 3 by construction) and has left every training matrix
    assert (dm.data.val_items == 3).all()
    for b in dm.behaviours:
        assert dm.data.train[b][:, 3].nnz == 0
    users, pos, negs = dm.val_set.tensors
    assert negs.shape == (12, 5)
    tt = dm.train_target
    for u, row in zip(users.tolist(), negs.tolist()):
        assert pos[u].item() not in row and not any(tt[u, j] for j in row) and len(set(row)) == 5


def test_missing_files_error(tmp_path) -> None:
    with pytest.raises(DataNotFoundError) as err:
        load_cml(tmp_path, ["pv", "buy"], dataset="tmall", source="https://example.org")
    msg = str(err.value)
    assert "trn_pv" in msg and "tst_int" in msg and "kg.txt" in msg and "https://example.org" in msg


def test_malformed_files_error(cml_root) -> None:
    root, _ = cml_root
    (root / "trn_fav").write_bytes(pickle.dumps(np.zeros((3, 3))))
    with pytest.raises(DataFormatError, match="trn_fav"):
        load_cml(root, ["pv", "fav", "cart", "buy"])
    (root / "trn_fav").write_bytes(b"not a pickle")
    with pytest.raises(DataFormatError, match="pickle"):
        load_cml(root, ["pv", "fav", "cart", "buy"])


def test_malformed_kg_error(cml_root) -> None:
    root, _ = cml_root
    (root / "kg.txt").write_text("1 2\n3 4\n")
    with pytest.raises(DataFormatError, match=r"kg\.txt"):
        load_cml(root, ["pv", "fav", "cart", "buy"])


def test_cli_reports_missing_data(tmp_path, capsys) -> None:
    from kamcl.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["fit", "--data.dataset=tmall", f"--data.root={tmp_path}", "--trainer.fast_dev_run=true"])
    assert exc.value.code == 2
    assert "trn_pv" in capsys.readouterr().err


def test_carve_validation_plain_keeps_earlier_aux_events() -> None:
    buy = sp.csr_matrix(np.array([[10.0, 20.0, 30.0]]))
    view = sp.csr_matrix(np.array([[5.0, 15.0, 25.0]]))  # item 2 viewed before its purchase
    late = sp.csr_matrix(np.array([[5.0, 15.0, 40.0]]))  # item 2 viewed after its purchase
    for hard, aux, kept in ((True, view, 0), (False, view, 1), (False, late, 0)):
        mats, val = carve_validation({"view": aux, "buy": buy}, "buy", np.array([-1]), hard=hard)
        assert val.tolist() == [2] and mats["buy"][0, 2] == 0
        assert (mats["view"][0, 2] != 0) == kept


def test_shuffle_relation_tails_only_touches_that_relation() -> None:
    kg = np.array([[0, 0, 10], [1, 0, 11], [2, 1, 12], [3, 1, 13], [4, 1, 14]])
    out = shuffle_relation_tails(kg, [1], seed=3)
    assert (out[:2] == kg[:2]).all()
    assert sorted(out[2:, 2]) == [12, 13, 14]


def test_sample_negatives_excludes_positives() -> None:
    excl = sp.csr_matrix(np.eye(6)[:3])
    negs = sample_negatives(excl, np.arange(3), np.array([1, 2, 3]), 4, seed=0)
    for u, row in enumerate(negs):
        assert u not in row and u + 1 not in row and len(set(row)) == 4


def test_synthetic_shapes_and_determinism() -> None:
    cfg = SyntheticConfig(n_users=60, n_items=80)
    a, b = generate(cfg), generate(cfg)
    assert a["events"] == b["events"] and a["test"] == b["test"]
    assert a["kg"].shape[1] == 3 and set(a["kg"][:, 1]) == {0, 1, 2, 3}
    assert generate(SyntheticConfig(n_users=60, n_items=80, seed=1))["events"] != a["events"]
    # hard split: the test item never appears in the user's training interactions
    for beh in a["events"].values():
        assert all(i != a["test"][u] for u, i, _ in beh)
    buys = np.bincount([u for u, _, _ in a["events"]["buy"]], minlength=60)
    assert buys.min() >= 2  # min_buys=3 minus the test item


def test_synthetic_signal_attribute_baseline() -> None:
    """A hand-made attribute recommender (price bucket of past buys x popularity) finds test items far above chance."""
    cfg = SyntheticConfig(n_users=300, n_items=200)
    out = generate(cfg)
    attrs, n_items = out["attrs"], cfg.n_items
    buy = np.zeros((cfg.n_users, n_items))
    for u, i, _ in out["events"]["buy"]:
        buy[u, i] = 1
    pop = np.zeros(n_items)
    for b in out["events"].values():
        for _, i, _ in b:
            pop[i] += 1
    price = np.eye(cfg.n_values[2])[attrs[:, 2]]  # (I, 5)
    pref = buy @ price + 0.1  # (U, 5) how often each user bought each price bucket
    scores = np.log(pref @ price.T) + 0.3 * np.log(pop + 1)  # (U, I)
    scores[buy > 0] = -np.inf
    test = np.array(out["test"])
    ranks = (scores > scores[np.arange(cfg.n_users), test][:, None]).sum(1)
    hit_attr = (ranks < 10).mean()
    random_hit = 10 / n_items
    assert hit_attr > 2.5 * random_hit


def test_train_pairs_are_target_only(cml_root) -> None:
    root, _ = cml_root
    dm = KAMCLDataModule(dataset="tmall", root=str(root), n_sampled_negatives=5)
    dm.setup("fit")
    u, i = dm.train_set.tensors
    assert torch.equal(torch.sort(u * dm.n_items + i).values, dm.positive_keys)
