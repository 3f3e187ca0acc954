"""The SAMI DataModule: self-generated training data (or the official training JSON), the C x C collation, and the
evaluation queries.

``fit`` without ``train_file``: for ``n_train + n_val`` queries one constitution pair is drawn at random, the
*current* policy (or ``generator_path``, the previous iteration's model) answers under both constitutions, filtered
queries are dropped, and the examples are written to ``train_data.json`` in the run folder in the official format
(record i = the training prompt of constitution i, principles shuffled and renumbered, + the response written under
it). Each training item expands to the C^2 sequences prompt_i + response_j in row-major (i, j) order.

Test items are evaluation queries with the prompts of the mutual-information estimate (every principle/antithesis
combination) and of the win rate (the positive constitution of the first pair).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Literal

import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader

from paperkit.errors import DataFormatError, PaperkitError
from paperkit.runs import run_dir
from sami.constitutions import (
    CHAT_SYSTEM,
    DEFAULT_TEMPLATE,
    ConstitutionPair,
    format_chat_prompt,
    format_prompt,
    load_constitutions,
    pairs_from_principles,
    shuffle_principles,
)
from sami.english import ENGLISH_PRINCIPLES, ENGLISH_QUERIES
from sami.formats import Example, QuerySource, load_queries, load_training_data, save_training_data
from sami.generation import generate_responses_vllm, keep_example
from sami.model import build_sequences
from sami.toy import TOY_PRINCIPLES, TOY_TEMPLATE, sample_query

__all__ = ["SamiDataModule", "collate_sami", "mi_constitutions"]

log = logging.getLogger(__name__)

Task = Literal["toy", "english"]


def mi_constitutions(pairs: list[ConstitutionPair]) -> list[str]:
    """The constitutions of the MI estimate: the first pair's positive and every negative that shares its principle
    order (for two principles: the positive and its 3 negations)."""
    pos = pairs[0].positive
    out = [pos]
    for p in pairs:
        if p.positive == pos and p.negative not in out:
            out.append(p.negative)
    return out


def collate_sami(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack per-query (C^2, T_i) tensors into (B, C^2, T), right-padded with the items' pad id."""
    cc = {it["input_ids"].shape[0] for it in items}
    if len(cc) != 1:
        raise ValueError(f"queries with different numbers of constitutions in one batch: {sorted(cc)}")
    t = max(it["input_ids"].shape[1] for it in items)
    out: dict[str, torch.Tensor] = {}
    for key, fill in (("input_ids", None), ("attention_mask", 0), ("response_mask", False)):
        rows = []
        for it in items:
            x = it[key]
            value = int(it["pad_id"]) if fill is None else fill
            rows.append(torch.nn.functional.pad(x, (0, t - x.shape[1]), value=value))
        out[key] = torch.stack(rows)
    out["index"] = torch.tensor([int(it["index"]) for it in items])
    return out


def _collate_eval(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: [it[k] for it in items] for k in items[0]}


class SamiDataModule(LightningDataModule):
    """Self-generated SAMI training data, C x C collation, evaluation queries."""

    def __init__(
        self,
        task: Task = "toy",
        constitutions: str | None = None,
        queries_file: str | None = None,
        query_source: QuerySource = "queries",
        test_queries_file: str | None = None,
        train_file: str | None = None,
        template: str | None = None,
        chat_template: bool = False,
        n_train: int = 64,
        n_val: int = 16,
        n_test: int = 64,
        generator_path: str | None = None,
        generation_backend: Literal["hf", "vllm"] = "hf",
        filters: list[str] | None = None,
        drop_identical: bool = True,
        constitutions_per_query: Literal["pair", "all"] = "pair",
        shuffle_principles: bool = True,
        append_eos: bool = True,
        batch_size: int = 8,
        max_length: int = 128,
        eval_seed: int = 1234,
        predict_file: str | None = None,
        predict_constitution: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.task = task
        self.append_eos = append_eos  # linked into the model (it scores sequences the same way)
        if constitutions:
            self.pairs = load_constitutions(constitutions)
        else:
            self.pairs = pairs_from_principles(TOY_PRINCIPLES if task == "toy" else ENGLISH_PRINCIPLES)
        self.template = template or (TOY_TEMPLATE if task == "toy" else DEFAULT_TEMPLATE)
        self.filters = list(filters or [])
        self.train_examples: list[Example] = []
        self.val_examples: list[Example] = []
        self.train_set = self.val_set = self.test_set = self.predict_set = None
        self._tokenizer = None
        self._pad_id = 0
        self._eos_id: int | None = None

    # --- the policy and tokenizer live in the LightningModule -------------------------------------------------------
    def _lm(self) -> Any:
        trainer = getattr(self, "trainer", None)
        lm = trainer.lightning_module if trainer is not None else None
        if lm is None or not hasattr(lm, "generate_texts"):
            raise PaperkitError("SamiDataModule needs the SamiModule of the trainer (its policy writes the data)")
        return lm

    def _set_tokenizer(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
        self._eos_id = int(tokenizer.eos_token_id) if self.hparams.append_eos else None

    def format(self, constitution: str, query: str) -> str:
        """The policy's prompt: ``template`` (plain text), or with ``chat_template`` the model's chat format with the
        constitution in the system turn (``template`` is then the system text, default ``CHAT_SYSTEM``)."""
        if self.hparams.chat_template:
            return format_chat_prompt(self._tokenizer, constitution, query, self.hparams.template or CHAT_SYSTEM)
        return format_prompt(self.template, constitution, query)

    # --- queries ---------------------------------------------------------------------------------------------------
    def _queries(self, n: int, rng: random.Random, offset: int = 0) -> list[str]:
        if self.hparams.queries_file:
            qs = load_queries(self.hparams.queries_file, self.hparams.query_source)
        elif self.task == "toy":
            return [sample_query(rng) for _ in range(n)]
        else:
            qs = list(ENGLISH_QUERIES)
        if offset >= len(qs):
            raise PaperkitError(f"only {len(qs)} queries available; {offset} were asked to be skipped")
        return qs[offset : offset + n]

    # --- self-generated training data -------------------------------------------------------------------------------
    def generate_examples(
        self, lm: Any, queries: list[str], rng: random.Random, generator: Any = None
    ) -> list[Example]:
        """One random pair per query (the paper's C = 2), or with ``constitutions_per_query: all`` the positive and
        every negation of it (C = 4 for two principles, as in the MI estimate); the policy answers under each
        constitution; filtered queries dropped."""
        if self.hparams.constitutions_per_query == "all":
            cons = [mi_constitutions(self.pairs) for _ in queries]
        else:
            chosen = [self.pairs[rng.randrange(len(self.pairs))] for _ in queries]
            cons = [[p.positive, p.negative] for p in chosen]
        prompts = [self.format(c, q) for cs, q in zip(cons, queries) for c in cs]
        seed = rng.randrange(2**31)
        if self.hparams.generation_backend == "vllm":  # optional: the model folder that writes the data, on a GPU
            h = lm.hparams
            path = self.hparams.generator_path or h.name_or_path
            if not self.hparams.generator_path and (h.gguf_file or path == "toy"):
                raise PaperkitError(
                    "--data.generation_backend vllm needs a Hugging Face model folder "
                    "(--model.name_or_path without --model.gguf_file, or --data.generator_path)"
                )
            texts = generate_responses_vllm(path, prompts, max_new_tokens=h.max_new_tokens, temperature=h.temperature,
                                            top_p=h.top_p, stop=h.stop or ("Human:", "###"), seed=seed)  # fmt: skip
        else:
            texts = lm.generate_texts(prompts, model=generator, seed=seed)
        out = []
        for k, (q, cs) in enumerate(zip(queries, cons)):
            c = len(cs)
            resp = texts[c * k : c * k + c]
            if not keep_example(resp, self.filters, self.hparams.drop_identical):
                continue
            train_cons = [shuffle_principles(c, rng) if self.hparams.shuffle_principles else c for c in cs]
            out.append(Example(str(k), [self.format(c, q) for c in train_cons], list(resp)))
        log.info("self-generated data: %d of %d queries kept", len(out), len(queries))
        return out

    def _load_generator(self) -> Any:
        path = self.hparams.generator_path
        if not path:
            return None
        from transformers import AutoModelForCausalLM

        if not Path(path).exists():
            raise PaperkitError(f"--data.generator_path '{path}' does not exist (a Hugging Face model folder)")
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()

    def setup(self, stage: str | None = None) -> None:
        lm = self._lm()
        self._set_tokenizer(lm.tokenizer)
        if stage == "predict":
            self._setup_predict()
            return
        if self.test_set is None:
            self.test_set = self._eval_items()
        if stage not in ("fit", "validate", None) or self.train_set is not None:
            return
        if self.hparams.train_file:
            examples = load_training_data(self.hparams.train_file)
            source = Path(self.hparams.train_file)
        else:
            rng = random.Random(int(torch.initial_seed()) % 2**31)
            queries = self._queries(self.hparams.n_train + self.hparams.n_val, rng)
            gen = self._load_generator() if self.hparams.generation_backend == "hf" else None
            examples = self.generate_examples(lm, queries, rng, gen)
            source = None
            if self.trainer is not None:
                folder = run_dir(self.trainer)  # a collective (log_dir broadcasts): every rank calls it
                if self.trainer.is_global_zero:
                    source = save_training_data(examples, folder / "train_data.json")
        if len(examples) < 2:
            raise PaperkitError(f"only {len(examples)} training examples survived the filters (need >= 2)")
        n_val = max(1, min(self.hparams.n_val, len(examples) // 4)) if self.hparams.n_val > 0 else 0
        self.train_examples, self.val_examples = examples[: len(examples) - n_val], examples[len(examples) - n_val :]
        self.train_set = [self._tokenize(ex, k, source) for k, ex in enumerate(self.train_examples)]
        self.val_set = [self._tokenize(ex, k, source) for k, ex in enumerate(self.val_examples)]

    def _tokenize(self, ex: Example, index: int, source: Path | None) -> dict[str, Any]:
        tok = self._tokenizer
        prompts = [tok(p)["input_ids"] for p in ex.prompts]
        responses = [tok(r, add_special_tokens=False)["input_ids"] for r in ex.responses]
        try:
            ids, att, resp = build_sequences(prompts, responses, self._pad_id, self._eos_id, self.hparams.max_length)
        except ValueError as err:
            where = source or Path("train_data.json")
            raise DataFormatError(where, f"example {ex.example_id!r}: {err} (--data.max_length, the context)") from None
        return {"input_ids": ids, "attention_mask": att, "response_mask": resp, "pad_id": self._pad_id, "index": index}

    def tokenize_examples(self, examples: list[Example]) -> list[dict[str, Any]]:
        return [self._tokenize(ex, k, None) for k, ex in enumerate(examples)]

    # --- evaluation ------------------------------------------------------------------------------------------------
    def _eval_items(self) -> list[dict[str, Any]]:
        rng = random.Random(self.hparams.eval_seed)
        offset = 0 if self.task == "toy" else self.hparams.n_train + self.hparams.n_val
        if self.hparams.test_queries_file:  # e.g. TL;DR's validation split (the official evaluation queries)
            queries = load_queries(self.hparams.test_queries_file, self.hparams.query_source)[: self.hparams.n_test]
        elif self.task != "toy" or self.hparams.queries_file:
            try:
                queries = self._queries(self.hparams.n_test, rng, offset)
            except PaperkitError:
                queries = self._queries(self.hparams.n_test, rng)  # too few queries: evaluate on the first ones
        else:
            queries = self._queries(self.hparams.n_test, rng)
        mi = mi_constitutions(self.pairs)
        win = self.pairs[0].positive
        return [{"index": k, "query": q, "mi_prompts": [self.format(c, q) for c in mi],
                 "win_prompt": self.format(win, q), "win_constitution": win}
                for k, q in enumerate(queries)]  # fmt: skip

    def _setup_predict(self) -> None:
        path = self.hparams.predict_file
        if path:
            queries = load_queries(path, self.hparams.query_source)
        else:
            queries = [it["query"] for it in self._eval_items()]
        cons = self.hparams.predict_constitution or self.pairs[0].positive
        if cons.endswith(".json"):
            cons = load_constitutions(cons)[0].positive
        self.predict_set = [
            {"index": k, "query": q, "constitution": cons, "prompt": self.format(cons, q)}
            for k, q in enumerate(queries)
        ]

    # --- loaders ---------------------------------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, collate_fn=collate_sami)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size, shuffle=False, collate_fn=collate_sami)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.hparams.batch_size * 4, collate_fn=_collate_eval)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(self.predict_set, batch_size=self.hparams.batch_size * 4, collate_fn=_collate_eval)
