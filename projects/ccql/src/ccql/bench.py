"""``python -m ccql.bench`` (``make bench``): training steps/s of SASRec-CCQL against plain SASRec at RetailRocket's
item count (70,852 items, batch 256, state length 10) in the same process, and evaluation sessions/s of the
vectorised full-ranking evaluator against a straightforward per-row loop.

CCQL runs more passes per step than SASRec (the next state through both networks for the TD target, the augmented
state for the contrastive term), so its step is expected to be slower: the ratio is the figure to report.
"""

from __future__ import annotations

import logging

import torch

from ccql.module import CCQLModule, RankingMetric
from paperkit.bench import BenchTarget, bench_arg_parser, compare, time_fn, write_bench
from paperkit.errors import run_script
from paperkit.report import markdown_table

__all__ = ["RETAILROCKET_ITEMS", "loop_ranking", "main"]

log = logging.getLogger(__name__)

RETAILROCKET_ITEMS = 70852
SASREC = {"td_weight": 0.0, "double_q": False, "weighting": "none", "cql_weight": 0.0, "cl_weight": 0.0,
          "grad_clamp": None}  # fmt: skip


def _batch_factory(n_items: int, batch: int, state_len: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)

    def make() -> dict[str, torch.Tensor]:
        n = torch.randint(1, state_len + 1, (batch,), generator=g)
        items = torch.randint(0, n_items, (batch, state_len), generator=g)
        pos = torch.arange(state_len)[None]
        state = torch.where(pos < n[:, None], items, n_items)
        nxt = torch.where(pos < (n + 1).clamp(max=state_len)[:, None], items, n_items)
        return {"state": state, "len_state": n, "action": torch.randint(0, n_items, (batch,), generator=g),
                "is_buy": (torch.rand(batch, generator=g) < 0.05).long(), "next_state": nxt,
                "len_next": (n + 1).clamp(max=state_len), "done": torch.rand(batch, generator=g) < 0.05}  # fmt: skip

    return make


def _step(m: CCQLModule, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return m.loss_terms(batch)["loss"]


def loop_ranking(scores: torch.Tensor, action: torch.Tensor, ks: tuple[int, ...] = (5, 10, 20)) -> dict[str, float]:
    """The straightforward evaluator: one Python iteration per row (rank by sorting that row)."""
    hits = dict.fromkeys(ks, 0.0)
    for row, a in zip(scores, action.tolist()):
        order = torch.argsort(row, descending=True).tolist()
        rank = order.index(a)
        for k in ks:
            hits[k] += float(rank < k)
    return {f"hr@{k}": v / len(action) for k, v in hits.items()}


def main(args: list[str] | None = None) -> list[dict]:
    p = bench_arg_parser("SASRec-CCQL training step vs SASRec at RetailRocket's item count; full-ranking evaluation")
    p.add_argument("--items", type=int, default=RETAILROCKET_ITEMS)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--eval-rows", type=int, default=2048)
    a = p.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    make = _batch_factory(a.items, a.batch_size, 10)
    kw = dict(steps=a.steps, warmup=a.warmup, device=a.device)
    ccql = BenchTarget("ccql", CCQLModule(n_items=a.items), make, step=_step)
    sasrec = BenchTarget("sasrec", CCQLModule(n_items=a.items, **SASREC), make, step=_step)
    rows = compare([ccql], sasrec, **kw)
    # evaluation: sessions/s of the vectorised metric (model scores included) vs the loop on the same scores
    model = CCQLModule(n_items=a.items).to(a.device).eval()
    ev = _batch_factory(a.items, a.eval_rows, 10, seed=1)()
    ev = {k: v.to(a.device) for k, v in ev.items()}
    long = torch.zeros_like(ev["is_buy"])

    def vectorised() -> None:
        with torch.no_grad():
            metric = RankingMetric().to(a.device)
            for part in torch.arange(a.eval_rows, device=a.device).split(1024):
                s = model.scores(ev["state"][part], ev["len_state"][part])
                metric.update(s, ev["action"][part], ev["is_buy"][part], long[part])
            metric.compute()

    loop_n = min(a.eval_rows, 256)
    with torch.no_grad():
        loop_scores = model.scores(ev["state"][:loop_n], ev["len_state"][:loop_n]).cpu()

    def loop() -> None:
        loop_ranking(loop_scores, ev["action"][:loop_n].cpu())

    t_vec = time_fn(vectorised, repeats=3, warmup=1, device=a.device)
    t_loop = time_fn(loop, repeats=3, warmup=1, device=a.device)
    eval_row = {
        "name": "full-ranking evaluation",
        "vectorised_sessions_per_s": a.eval_rows / t_vec["median_s"],
        "loop_sessions_per_s": loop_n / t_loop["median_s"],
        "loop_note": "scores precomputed; only the per-row ranking is timed",
    }
    eval_row["speedup"] = eval_row["vectorised_sessions_per_s"] / eval_row["loop_sessions_per_s"]
    path = write_bench("ccql", rows, a.out, evaluation=eval_row, items=a.items, batch_size=a.batch_size)
    table = [
        {"candidate": r["candidate"]["name"], "steps/s": r["candidate"]["steps_per_s"],
         "sasrec steps/s": r["reference"]["steps_per_s"], "speed ratio": r["speed_ratio"]}
        for r in rows
    ]  # fmt: skip
    log.info("%s\n\n%s\n(written to %s)", markdown_table(table), markdown_table([eval_row]), path)
    return rows


if __name__ == "__main__":
    run_script(main)
