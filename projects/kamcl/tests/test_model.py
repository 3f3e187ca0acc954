"""Model shapes, gradients to every parameter, masking of training positives in the module's evaluation."""

import pytest
import torch

from kamcl.data import KAMCLDataModule
from kamcl.metrics import full_ranking_ranks
from kamcl.model import MODELS, Reps
from kamcl.module import KAMCLModule, _batch_mask
from paperkit.testing import assert_all_params_get_grad


def _module(dm: KAMCLDataModule, **kw) -> KAMCLModule:
    m = KAMCLModule(
        n_users=dm.n_users,
        n_items=dm.n_items,
        n_entities=dm.n_entities,
        n_relations=dm.n_relations,
        n_behaviours=dm.n_behaviours,
        dim=8,
        n_layers=2,
        **kw,
    )
    m.attach(dm.graph, dm.positive_keys, {"val": dm.mask_for("val"), "test": dm.mask_for("test")}, 5)
    return m


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"kg_aggregator": "attention", "kg_layers": 2, "behaviour_fusion": "mean", "intent_independence_weight": 0.1},
        {"n_intents": 3, "intent_bias": False, "cl_kg_item_view": "mean"},
        {"use_kg": False},
        {"model_name": "bprmf"},
        {"model_name": "lightgcn"},
    ],
)
def test_every_parameter_gets_a_gradient(fixture_dm, kw) -> None:
    torch.manual_seed(0)
    m = _module(fixture_dm, **kw)
    u, i = fixture_dm.train_set.tensors
    terms = m.objective_terms(u, i, m._sample_negatives(u))
    assert_all_params_get_grad(m, sum(terms.values()))
    reps = m()
    assert reps.users.shape == (fixture_dm.n_users, 8) and reps.items.shape == (fixture_dm.n_items, 8)


def test_kamcl_views_and_terms(fixture_dm) -> None:
    m = _module(fixture_dm)
    reps = m()
    B, U, I = fixture_dm.n_behaviours, fixture_dm.n_users, fixture_dm.n_items
    assert reps.user_beh.shape == (B, U, 8) and reps.item_beh.shape == (B, I, 8) and reps.item_kg.shape == (I, 8)
    assert reps.intents.shape == (fixture_dm.n_relations, 8)  # K = R by default
    u, i = fixture_dm.train_set.tensors
    assert set(m.objective_terms(u, i, m._sample_negatives(u))) == {"bpr", "reg", "cl_behaviour", "cl_kg"}
    no_cl = _module(fixture_dm, cl_behaviour_weight=0.0, cl_kg_weight=0.0)
    assert set(no_cl.objective_terms(u, i, no_cl._sample_negatives(u))) == {"bpr", "reg"}


def test_negatives_avoid_training_positives(fixture_dm) -> None:
    m = _module(fixture_dm)
    u = fixture_dm.train_set.tensors[0].repeat(20)
    neg = m._sample_negatives(u)
    keys = u * fixture_dm.n_items + neg
    assert not torch.isin(keys, fixture_dm.positive_keys).any()


def test_popularity_scores(fixture_dm) -> None:
    m = _module(fixture_dm, model_name="pop")
    reps = m()
    users = torch.tensor([0, 1])
    scores = reps.users[users] @ reps.items.T + reps.item_bias
    assert torch.equal(scores[0], fixture_dm.graph.target_pop)


def test_training_positives_are_masked_in_evaluation(fixture_dm) -> None:
    """A scorer that puts the user's known purchases first must still be ranked among unseen items only."""
    m = _module(fixture_dm, model_name="bprmf")
    known = torch.from_numpy(fixture_dm.mask_for("test").toarray()).float()  # (U, I) train buys + validation item
    m._reps = Reps(users=known, items=torch.eye(fixture_dm.n_items))  # score(u, i) = 1 if i is known
    users, pos, negs = fixture_dm.test_set.tensors
    m._eval_step((users, pos, negs), "test")
    # after masking every remaining item scores 0 like the held-out one: pessimistic ties -> rank = #unmasked - 1
    rows, cols = _batch_mask(*m.masks["test"], users)
    n_unmasked = fixture_dm.n_items - torch.bincount(rows, minlength=len(users))
    expected_hr10 = (n_unmasked - 1 < 10).float().mean()
    assert torch.isclose(m.eval_metrics["test_hr_at_10"].compute(), expected_hr10)
    assert torch.equal(known[users][rows, cols], torch.ones(len(rows)))  # exactly the known items are masked
    scores = known[users] @ torch.eye(fixture_dm.n_items)
    assert torch.equal(full_ranking_ranks(scores, pos, rows, cols), n_unmasked - 1)
    # without masking the known items (score 1) sit above the held-out item
    assert (full_ranking_ranks(scores, pos, rows[:0], cols[:0]) == fixture_dm.n_items - 1).all()


def test_batch_mask_matches_csr(fixture_dm) -> None:
    m = _module(fixture_dm)
    users = torch.tensor([3, 0, 5])
    rows, cols = _batch_mask(*m.masks["val"], users)
    dense = fixture_dm.mask_for("val").toarray()
    got = torch.zeros(3, fixture_dm.n_items)
    got[rows, cols] = 1
    assert torch.equal(got, torch.from_numpy(dense[users.numpy()]).float())


def test_all_models_registered() -> None:
    assert set(MODELS) == {"kamcl", "pop", "bprmf", "lightgcn"}


@pytest.mark.parametrize("aggregator", ["mean", "attention"])
def test_single_layer_shortcut_equals_general_kg_path(fixture_dm, aggregator, monkeypatch) -> None:
    """With one KG layer the aggregator computes only the item rows; it must agree with the general path."""
    from kamcl.model import RelationKGAggregator

    m = _module(fixture_dm, kg_aggregator=aggregator, kg_layers=1)
    net = m.net
    args = (net.entity.weight, net.relation.weight, fixture_dm.graph.kg)
    fast = net.kg(*args)
    monkeypatch.setattr(RelationKGAggregator, "single_layer_shortcut", False)
    general = net.kg(*args)
    assert fast.abs().sum() > 0
    torch.testing.assert_close(fast, general)
