"""Module mechanics: the double-Q coin flip, the phase-2 weighting, the gradient clamp, the objective's switches."""

from __future__ import annotations

import torch

from ccql.bench import _batch_factory
from ccql.module import CCQLModule

N = 40


def _batch() -> dict[str, torch.Tensor]:
    return _batch_factory(N, 32, 10)()


def test_the_per_sample_coin_trains_both_networks_on_halves() -> None:
    m = CCQLModule(n_items=N)
    m.loss_terms(_batch())["loss"].backward()
    assert m.qf1.ce_head.weight.grad.abs().sum() > 0 and m.qf2.ce_head.weight.grad.abs().sum() > 0


def test_the_step_coin_trains_one_network_and_freezes_the_other() -> None:
    m = CCQLModule(n_items=N, coin="step")
    trained = set()
    for seed in range(8):
        torch.manual_seed(seed)
        m.zero_grad(set_to_none=True)
        m.loss_terms(_batch())["loss"].backward()
        g1 = m.qf1.ce_head.weight.grad is not None
        g2 = m.qf2.ce_head.weight.grad is not None
        assert g1 != g2  # exactly one network learns per step
        trained.add("qf1" if g1 else "qf2")
    assert trained == {"qf1", "qf2"}


def test_terms_follow_the_switches() -> None:
    torch.manual_seed(0)
    full = CCQLModule(n_items=N).loss_terms(_batch())
    assert set(full) == {"td", "cql", "ce", "cl", "loss"}
    torch.testing.assert_close(full["loss"], full["td"] + full["cql"] + full["ce"] + full["cl"])
    plain = CCQLModule(n_items=N, td_weight=0.0, double_q=False, weighting="none", cql_weight=0.0, cl_weight=0.0)
    assert set(plain.loss_terms(_batch())) == {"ce", "loss"} and plain.qf2 is None


def test_phase_two_weights_the_ce_by_q(monkeypatch) -> None:
    m = CCQLModule(n_items=N, double_q=False, cql_weight=0.0, cl_weight=0.0, dropout=0.0, switch_interval=10)
    b = _batch()
    before = m.loss_terms(b)["ce"]
    monkeypatch.setattr(type(m), "global_step", property(lambda self: 10))
    after = m.loss_terms(b)["ce"]
    _, q, logits = m.qf1(b["state"], b["len_state"])
    ce = torch.nn.functional.cross_entropy(logits, b["action"], reduction="none")
    qa = q.gather(1, b["action"][:, None]).squeeze(1)
    torch.testing.assert_close(after, (qa.detach() * ce).mean())
    torch.testing.assert_close(before, ce.mean())


def test_gradient_clamp() -> None:
    m = CCQLModule(n_items=N, grad_clamp=1e-4)
    m.loss_terms(_batch())["loss"].backward()
    m.on_before_optimizer_step(torch.optim.SGD(m.parameters(), lr=0.1))
    assert max(p.grad.abs().max() for p in m.parameters() if p.grad is not None) <= 1e-4
