"""Oracle rankings from the generator's ground truth: the evaluation path and the utility decomposition."""

import numpy as np
import pytest

from kamcl.data import KAMCLDataModule
from kamcl.datasets.synthetic import SYNTHETIC_RELATIONS, generate, oracle_utility
from kamcl.oracle import NO_PRICE, evaluate_scores, oracle_table


@pytest.fixture
def dm(tmp_path) -> KAMCLDataModule:
    return KAMCLDataModule(dataset="synthetic", root=str(tmp_path / "syn"), synthetic_users=80, synthetic_items=60)


def _held(dm: KAMCLDataModule) -> np.ndarray:
    test = dm.data.test_items
    assert (test >= 0).all()
    return test


def test_evaluate_scores_follows_the_module_protocol(dm) -> None:
    test = _held(dm)
    users = np.arange(dm.n_users)
    onehot = np.zeros((dm.n_users, dm.n_items))
    onehot[users, test] = 1.0
    assert evaluate_scores(dm, onehot)["test/ndcg@10"] == pytest.approx(1.0)
    assert evaluate_scores(dm, -onehot)["test/hr@20"] == pytest.approx(0.0)  # 60 items: rank 59 for everyone
    # masked items (training purchases and the validation item) scoring above the test item do not count
    mask = dm.mask_for("test").toarray() > 0
    assert not mask[users, test].any()
    masked_high = onehot + 2.0 * mask
    assert evaluate_scores(dm, masked_high)["test/ndcg@10"] == pytest.approx(1.0)
    # ties are pessimistic: a constant scorer ranks the held-out item after every unmasked item
    assert evaluate_scores(dm, np.zeros_like(onehot))["test/hr@10"] < 0.5


def test_oracle_utility_is_the_sum_of_its_attribute_terms(dm) -> None:
    out = generate(dm.synthetic_cfg)
    full = oracle_utility(out, dm.synthetic_cfg)
    parts = oracle_utility(out, dm.synthetic_cfg, relations=NO_PRICE) + oracle_utility(
        out, dm.synthetic_cfg, relations=["price_bucket"], pop=False
    )
    np.testing.assert_allclose(full, parts)
    assert np.all(oracle_utility(out, dm.synthetic_cfg, relations=[], pop=False) == 0)
    assert set(NO_PRICE) == set(SYNTHETIC_RELATIONS) - {"price_bucket"}


def test_oracle_table_ranks_the_true_utility_above_popularity(dm) -> None:
    rows = {r["oracle"]: r for r in oracle_table(root=str(dm.root), n_users=80, n_items=60)}
    full = rows["buy utility (all attributes + popularity)"]["test/ndcg@10"]
    assert full > rows["popularity term only"]["test/ndcg@10"]
    assert full > rows["without price (brand, category, rating + popularity)"]["test/ndcg@10"]
