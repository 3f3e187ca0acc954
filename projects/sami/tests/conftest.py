"""Fixtures: a tiny randomly initialised Llama-style causal LM + a locally trained byte-level tokenizer, saved with
``save_pretrained`` to a temporary folder (the same loading path a user's model folder takes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    from sami.toy import _train_tokenizer

    folder = tmp_path_factory.mktemp("tiny_lm")
    texts = ["Constitution:\n1. Be kind.\n2. Be short.\n\nHuman: hello there\n\nAssistant: hi"] * 20
    tok = _train_tokenizer(texts, vocab=300)
    torch.manual_seed(0)
    eos = tok.eos_token_id
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)  # fmt: skip
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
