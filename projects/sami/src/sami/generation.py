"""Self-generated responses (paper Sec. 3, "Data generation"): the current policy answers each query under each
constitution, greedy by default (temperature 0), with sampling as an option; vLLM is used when installed and asked
for, never required.

Outputs are cut at the stop strings (official: "Human:" and "###"), and a query is dropped when one of its responses
contains a filter string or when all its responses are identical.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

import torch
from pytorch_lightning.utilities import move_data_to_device
from torch import nn

from paperkit.errors import PaperkitError

__all__ = ["VLLM_MISSING", "cut_at_stop", "generate_responses", "generate_responses_vllm", "keep_example"]

VLLM_MISSING = (
    "the vLLM generation backend was asked for (--backend vllm / --data.generation_backend vllm) but vLLM is not "
    "installed. It is optional and needs a CUDA GPU (`pip install vllm` there); the default backend, hf "
    "(transformers `generate`), needs nothing else and runs on a CPU."
)

log = logging.getLogger(__name__)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the first stop string."""
    cut = len(text)
    for s in stop:
        k = text.find(s)
        if s and k != -1:
            cut = min(cut, k)
    return text[:cut].rstrip() if cut < len(text) else text


def keep_example(responses: Sequence[str], filters: Sequence[str], drop_identical: bool = True) -> bool:
    """False when a response contains a filter string, is empty, or (``drop_identical``) all are equal."""
    if any(not r.strip() for r in responses):
        return False
    if any(f and f in r for r in responses for f in filters):
        return False
    return not (drop_identical and len(set(responses)) < len(responses))


@torch.no_grad()
def generate_responses(
    model: nn.Module,
    tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 350,
    temperature: float = 0.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    stop: Sequence[str] = ("Human:", "###"),
    seed: int | None = None,
) -> list[str]:
    """One response per prompt from ``model.generate`` (left-padded batches). ``temperature`` 0 = greedy.

    With ``seed`` the sampling is reproducible and leaves the global random state as it was.
    """
    from pytorch_lightning.utilities.seed import isolate_rng

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[str] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        with isolate_rng():
            if seed is not None:
                torch.manual_seed(seed)
            for s in range(0, len(prompts), batch_size):
                chunk = list(prompts[s : s + batch_size])
                enc = tokenizer(chunk, return_tensors="pt", padding=True)
                enc = move_data_to_device({k: enc[k] for k in ("input_ids", "attention_mask")}, device)
                kwargs = {"do_sample": temperature > 0, "max_new_tokens": max_new_tokens,
                          "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}  # fmt: skip
                if temperature > 0:
                    kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
                else:
                    kwargs.update(temperature=None, top_p=None, top_k=None)
                ids = model.generate(**enc, **kwargs)[:, enc["input_ids"].shape[1] :]
                texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
                out.extend(cut_at_stop(t, stop) for t in texts)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return out


def generate_responses_vllm(
    model_path: str,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 350,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop: Sequence[str] = ("Human:", "###"),
    seed: int | None = None,
) -> list[str]:
    """The same responses from vLLM (optional; the official generator) on a model folder: greedy at temperature 0."""
    try:  # by name: an optional package, not a declared dependency
        vllm = importlib.import_module("vllm")
    except ImportError:
        raise PaperkitError(VLLM_MISSING) from None
    llm = vllm.LLM(model=str(model_path), seed=0 if seed is None else seed)
    params = vllm.SamplingParams(temperature=temperature, top_p=top_p if temperature > 0 else 1.0,
                                 max_tokens=max_new_tokens, stop=list(stop))  # fmt: skip
    return [cut_at_stop(o.outputs[0].text, stop) for o in llm.generate(list(prompts), params)]
