"""``make bench``: tokens/s of the SAMI training step on SmolLM2-135M (``data/smollm2``, else a 125M-parameter
Llama-shaped model with random weights) against a plain causal-LM loss step on the same tokens, in one process.

One query, C = 2: the SAMI step scores the 4 sequences prompt_i + response_j (T tokens each) and backpropagates the
symmetric InfoNCE loss; the reference step is next-token cross-entropy on the same 4 x T tokens. Both AdamW(1e-5).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from paperkit.bench import BenchTarget, bench_arg_parser, compare, write_bench
from paperkit.errors import run_script
from sami.model import build_sequences, logprob_matrix, sami_loss

__all__ = ["main"]

PROMPT, RESPONSE, C = 96, 32, 2
SMOLLM2 = ("data/smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def _model(random_weights: bool) -> tuple[nn.Module, str, int]:
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    folder, gguf = SMOLLM2
    if not random_weights and Path(folder, gguf).is_file():
        m = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
        return m, "SmolLM2-135M", m.config.vocab_size
    torch.manual_seed(0)  # 125M, Llama-shaped (width 768, 12 layers, 12 heads)
    cfg = LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                      num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=512)  # fmt: skip
    return LlamaForCausalLM(cfg), "Llama-125M (random)", cfg.vocab_size


def _batch(vocab: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, vocab, (PROMPT,), generator=g).tolist() for _ in range(C)]
    responses = [torch.randint(0, vocab, (RESPONSE,), generator=g).tolist() for _ in range(C)]
    ids, att, resp = build_sequences(prompts, responses, pad_id=0)
    return {"input_ids": ids[None], "attention_mask": att[None], "response_mask": resp[None]}


def _sami_step(model: nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
    return sami_loss(logprob_matrix(model, b["input_ids"], b["attention_mask"], b["response_mask"]))["loss"]


def _lm_step(model: nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
    ids = b["input_ids"][0]
    return model(input_ids=ids, attention_mask=b["attention_mask"][0], labels=ids).loss


def main(args: list[str] | None = None) -> dict:
    p = bench_arg_parser(__doc__.splitlines()[0])
    p.add_argument("--random_weights", action="store_true", help="the 125M random Llama even if SmolLM2 is there")
    opts = p.parse_args(args)
    model, name, vocab = _model(opts.random_weights)
    tokens = C * C * (PROMPT + RESPONSE)
    adamw = lambda ps: torch.optim.AdamW(ps, lr=1e-5)  # noqa: E731
    make = lambda: _batch(vocab)  # noqa: E731
    sami = BenchTarget(f"SAMI step ({name})", model, make, _sami_step, adamw, batch_size=tokens)
    ref = BenchTarget(f"causal-LM step ({name})", model, make, _lm_step, adamw, batch_size=tokens)
    [row] = compare([sami], ref, steps=opts.steps, warmup=opts.warmup, device=opts.device)
    ratio = row["reference"]["samples_per_s"] / row["candidate"]["samples_per_s"]  # time per token, SAMI / LM
    row = {"pair": f"SAMI vs causal-LM loss ({name})", "time_ratio": ratio, **row}
    sami_tps, lm_tps = row["candidate"]["samples_per_s"], row["reference"]["samples_per_s"]
    print(f"{name}: SAMI {sami_tps:.0f} tok/s, causal LM {lm_tps:.0f} tok/s, time ratio SAMI/LM {ratio:.3f}")
    path = write_bench("sami", [row], opts.out, tokens_per_step=tokens, model=name, device=opts.device)
    print(f"written to {path}")
    return {"rows": [row], "path": str(path)}


if __name__ == "__main__":
    run_script(main)
