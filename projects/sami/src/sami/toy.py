"""The embedded toy setting: a tiny Llama-style LM, briefly pre-trained on a toy language with a weak link from the
constitution to the response, which SAMI then has to strengthen (the paper's premise: the pretrained model already
follows principles a little, and SAMI amplifies that without preference labels).

* query: 4 random lowercase letters ("q w e r");
* principle A "Use vowels." (antithesis "Use consonants."): the letters of the response;
* principle B "Be short." (antithesis "Be long."): 1-3 letters, then EOS (vs 8-12);
* pre-training ("SFT"): responses obey each principle of the prompt's constitution with probability ``obey``
  (0.6), otherwise they are random (uniform letters, uniform length 1-12);
* the tokenizer is byte-level BPE trained on that language (any UTF-8 text still encodes, byte by byte), saved as
  a Hugging Face tokenizer; the model is ``transformers.LlamaConfig`` (2 layers, width 64, 4 heads, 2 KV heads).

The pre-trained base is written once per settings under ``$SAMI_CACHE`` (default ``~/.cache/sami``) as a Hugging
Face model folder, so ``from_pretrained`` loads it like any other checkpoint.
"""

from __future__ import annotations

import logging
import os
import random
import string
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from sami.constitutions import Principle, format_prompt, number_principles

__all__ = [
    "CONSONANTS",
    "TOY_PRINCIPLES",
    "TOY_TEMPLATE",
    "VOWELS",
    "ToySettings",
    "build_toy_base",
    "sample_query",
    "sample_response",
    "toy_cache_root",
    "toy_score",
]

log = logging.getLogger(__name__)

VOWELS = tuple("aeiou")
CONSONANTS = tuple(c for c in string.ascii_lowercase if c not in VOWELS)
TOY_PRINCIPLES = (
    Principle("vowels", "Use vowels.", "Use consonants."),
    Principle("short", "Be short.", "Be long."),
)
TOY_TEMPLATE = "Constitution:\n{constitution}\n\nHuman: {query}\n\nAssistant:"
SHORT, LONG, MAX_LEN = (1, 3), (8, 12), 12


@dataclass(frozen=True)
class ToySettings:
    """Everything that changes the pre-trained toy base (its cache key)."""

    obey: float = 0.6
    pretrain_steps: int = 200
    pretrain_batch: int = 32
    pretrain_lr: float = 3e-3
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 128
    vocab: int = 320
    seed: int = 0
    version: int = 1


def toy_cache_root() -> Path:
    return Path(os.environ.get("SAMI_CACHE", "~/.cache/sami")).expanduser()


def sample_query(rng: random.Random) -> str:
    return " ".join(rng.choice(string.ascii_lowercase) for _ in range(4))


def sample_response(constitution: str, rng: random.Random, obey: float) -> str:
    """A response to ``constitution`` that obeys each principle with probability ``obey`` (else random)."""
    letters: tuple[str, ...] = tuple(string.ascii_lowercase)
    if rng.random() < obey:
        if "Use vowels." in constitution:
            letters = VOWELS
        elif "Use consonants." in constitution:
            letters = CONSONANTS
    lo, hi = 1, MAX_LEN
    if rng.random() < obey:
        if "Be short." in constitution:
            lo, hi = SHORT
        elif "Be long." in constitution:
            lo, hi = LONG
    n = rng.randint(lo, hi)
    return " " + " ".join(rng.choice(letters) for _ in range(n))


def toy_score(constitution: str, response: str) -> float:
    """The rule judge: for each principle of the constitution, how well the response obeys it (0..1), summed.

    A: the fraction of the response's tokens that are vowels (consonants); B: 1 if the response has 1-3 (>= 8)
    tokens. A response with no tokens scores 0."""
    toks = response.split()
    if not toks:
        return 0.0
    score = 0.0
    if "Use vowels." in constitution:
        score += sum(t in VOWELS for t in toks) / len(toks)
    if "Use consonants." in constitution:
        score += sum(t in CONSONANTS for t in toks) / len(toks)
    if "Be short." in constitution:
        score += float(len(toks) <= SHORT[1])
    if "Be long." in constitution:
        score += float(len(toks) >= LONG[0])
    return score


def _random_constitution(rng: random.Random) -> str:
    texts = [p.antithesis if rng.random() < 0.5 else p.text for p in TOY_PRINCIPLES]
    rng.shuffle(texts)
    return number_principles(texts)


def _corpus(rng: random.Random, n: int, obey: float) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        c = _random_constitution(rng)
        out.append((format_prompt(TOY_TEMPLATE, c, sample_query(rng)), sample_response(c, rng, obey)))
    return out


def _train_tokenizer(texts: list[str], vocab: int):  # -> PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>", bos_token="<|endoftext|>",
        model_max_length=128,
    )  # fmt: skip


def _write_base(folder: Path, s: ToySettings) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    rng = random.Random(s.seed)
    corpus = _corpus(rng, 4000, s.obey)
    tokenizer = _train_tokenizer([p + r for p, r in corpus], s.vocab)
    eos = tokenizer.eos_token_id
    torch.manual_seed(s.seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=s.hidden, intermediate_size=s.intermediate,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, num_key_value_heads=s.kv_heads,
        max_position_embeddings=128, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
        tie_word_embeddings=False,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=s.pretrain_lr, weight_decay=0.0)
    model.train()
    prompts = tokenizer([p for p, _ in corpus])["input_ids"]
    responses = tokenizer([r for _, r in corpus], add_special_tokens=False)["input_ids"]
    for step in range(s.pretrain_steps):
        idx = [rng.randrange(len(corpus)) for _ in range(s.pretrain_batch)]
        seqs = [prompts[k] + responses[k] + [eos] for k in idx]
        t = max(map(len, seqs))
        ids = torch.full((len(idx), t), eos, dtype=torch.long)
        lab = torch.full((len(idx), t), -100, dtype=torch.long)
        att = torch.zeros((len(idx), t), dtype=torch.long)
        for row, (k, seq) in enumerate(zip(idx, seqs)):
            ids[row, : len(seq)] = torch.tensor(seq)
            att[row, : len(seq)] = 1
            lab[row, len(prompts[k]) : len(seq)] = ids[row, len(prompts[k]) : len(seq)]  # response + EOS only
        loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == s.pretrain_steps - 1:
            log.info("toy pre-training step %d: loss %.3f", step, loss.item())
    model.eval()
    model.generation_config.pad_token_id = eos
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def build_toy_base(settings: ToySettings | None = None, root: str | Path | None = None) -> Path:
    """The folder of the pre-trained toy base model (model + tokenizer), built on first use."""
    from paperkit.synthetic import cached_dir

    s = settings or ToySettings()
    return cached_dir(root or toy_cache_root(), "toy-base", asdict(s), lambda tmp: _write_base(tmp, s))
