"""LightningModule: SAMI fine-tuning of a causal LM (paper Sec. 2-3) and its evaluation (Sec. 4).

Training: per query the C x C matrix L[i, j] = log pi(y_j | x, c_i) (mean or sum over response tokens) and the
symmetric InfoNCE loss of :func:`sami.model.sami_loss` (+ optional beta * KL(pi || pi_ref)). Full fine-tuning or LoRA
(peft). After ``fit`` the policy is written as a Hugging Face model folder (``hf_model/``, LoRA merged) that
``AutoModelForCausalLM.from_pretrained`` loads.

Test: on held-out queries, (1) the conditional-MI estimate of the current policy and of the base model: responses
sampled under every principle/antithesis combination, Î = mean_j [S_jj - log mean_i exp S_ij] with summed
log-probabilities S (<= log C); (2) the win rate of the policy against the base model under the positive
constitution, judged pairwise with the A/B order randomised (ties 0.5).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import torch
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import OptimizerCallable

from paperkit.config import config_from
from paperkit.errors import PaperkitError
from paperkit.report import gather_rows, save_json
from paperkit.runs import run_dir
from sami.english import english_score
from sami.formats import save_eval_responses
from sami.generation import generate_responses
from sami.judges import ChatJudge, HFBackend, Judge, OpenAIBackend, RuleJudge, win_rates
from sami.model import (
    LengthNorm,
    SamiLossConfig,
    build_sequences,
    kl_from_logits,
    logprob_matrix,
    mi_lower_bound,
    response_logprobs,
    sami_loss,
)
from sami.toy import ToySettings, build_toy_base, toy_score

__all__ = ["SamiModule", "load_causal_lm", "set_eos_token"]

log = logging.getLogger(__name__)

JudgeName = Literal["toy_rules", "english_rules", "hf", "openai"]
Batch = dict[str, torch.Tensor]


def _adamw(params: Iterable) -> torch.optim.Optimizer:
    """AdamW, lr 2e-4, no weight decay (the toy setting; configs/paper.yaml has the paper's RMSprop 5e-7)."""
    return torch.optim.AdamW(params, lr=2e-4, weight_decay=0.0)


def load_causal_lm(name_or_path: str, gguf_file: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder (a Hugging Face model folder, or a folder with a GGUF file)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(name_or_path)
    if not path.exists():
        raise PaperkitError(
            f"--model.name_or_path '{name_or_path}': no such folder. Pass a local Hugging Face model folder, 'toy' "
            "(the embedded tiny model), or fetch SmolLM2 with `make data-smollm2` (data/smollm2/ + --model.gguf_file)."
        )
    kw = {"gguf_file": gguf_file} if gguf_file else {}
    if gguf_file:
        if not (path / gguf_file).is_file():
            raise PaperkitError(f"--model.gguf_file '{gguf_file}' is not in '{path}'")
        # transformers de-quantises GGUF files with these two packages (declared dependencies of this project)
        import accelerate  # noqa: F401
        import gguf  # noqa: F401
    tok = AutoTokenizer.from_pretrained(path, **kw)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token  # pad = eos, as in the official code
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kw)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def set_eos_token(model: Any, tokenizer: Any, eos_token: str) -> None:
    """Make ``eos_token`` the EOS (and pad, as in the official code) of the tokenizer and of generation."""
    ids = tokenizer.convert_tokens_to_ids([eos_token])
    if not ids or ids[0] is None or ids[0] == tokenizer.unk_token_id:
        raise PaperkitError(f"--model.eos_token '{eos_token}' is not a token of this tokenizer")
    tokenizer.eos_token = tokenizer.pad_token = eos_token
    model.generation_config.eos_token_id = model.generation_config.pad_token_id = ids[0]
    model.config.eos_token_id = model.config.pad_token_id = ids[0]


class SamiModule(LightningModule):
    """SAMI on any local causal LM (default: the embedded toy Llama)."""

    def __init__(
        self,
        name_or_path: str = "toy",
        gguf_file: str | None = None,
        eos_token: str | None = None,
        reference_path: str | None = None,
        reference_gguf_file: str | None = None,
        toy_obey: float = 0.6,
        toy_pretrain_steps: int = 200,
        # objective (SamiLossConfig)
        length_norm: LengthNorm = "mean",
        kl_beta: float = 0.0,
        append_eos: bool = True,
        # LoRA through peft (lora_r = 0: full fine-tuning, the paper's setting)
        lora_r: int = 0,
        lora_alpha: int = 16,
        lora_dropout: float = 0.0,
        lora_target_modules: list[str] | None = None,
        gradient_checkpointing: bool = False,
        logprob_chunk: int | None = None,
        # generation (self-generated data and evaluation)
        max_new_tokens: int = 12,
        temperature: float = 1.0,
        top_p: float = 1.0,
        gen_batch_size: int = 64,
        stop: list[str] | None = None,
        mi_temperature: float = 1.0,
        win_temperature: float = 1.0,
        # judge of the win rate
        judge: JudgeName = "toy_rules",
        judge_model: str | None = None,
        judge_url: str | None = None,
        judge_api_key_env: str = "OPENAI_API_KEY",
        judge_timeout_s: float = 60.0,
        win_seed: int = 1,
        optimizer: OptimizerCallable = _adamw,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.cfg = config_from(SamiLossConfig, self.hparams)
        if name_or_path == "toy":
            path = build_toy_base(ToySettings(obey=toy_obey, pretrain_steps=toy_pretrain_steps))
            policy, self.tokenizer = load_causal_lm(str(path))
        else:
            policy, self.tokenizer = load_causal_lm(name_or_path, gguf_file)
        if eos_token:  # e.g. "<|im_end|>": SmolLM2's GGUF tokenizer reports <|im_start|> as its EOS
            set_eos_token(policy, self.tokenizer, eos_token)
        policy.train()  # from_pretrained returns eval mode; Lightning keeps the mode it finds
        if gradient_checkpointing:
            policy.gradient_checkpointing_enable()
        if lora_r > 0:
            from peft import LoraConfig, get_peft_model

            targets = lora_target_modules or ["q_proj", "k_proj", "v_proj", "o_proj"]
            lcfg = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=targets,
                              task_type="CAUSAL_LM")  # fmt: skip
            self.policy = get_peft_model(policy, lcfg)
            self._ref: list[Any] = []  # the base model is the policy with its adapters disabled
        else:
            self.policy = policy
        if reference_path:  # e.g. `iterate --mode continue`: the base model is not the one fine-tuned here
            ref, _ = load_causal_lm(reference_path, reference_gguf_file)
            self._ref = [ref.eval().requires_grad_(False)]
        elif lora_r == 0:
            ref = copy.deepcopy(policy).eval()
            for p in ref.parameters():
                p.requires_grad_(False)
            self._ref = [ref]  # a plain list: not a submodule, not in checkpoints
        self.optimizer = optimizer
        self._test_rows: list[dict[str, Any]] = []
        self._judge: Judge | None = None

    # --- the base (reference) model ---------------------------------------------------------------------------------
    def reference_forward(self) -> Any:
        """A context giving the base model: the frozen copy, or the LoRA policy with its adapters disabled."""
        import contextlib

        if self._ref:
            self._ref[0].to(self.device)

            @contextlib.contextmanager
            def ctx():
                yield self._ref[0]

            return ctx()

        @contextlib.contextmanager
        def lora_ctx():
            with self.policy.disable_adapter():
                yield self.policy

        return lora_ctx()

    # --- generation -------------------------------------------------------------------------------------------------
    def generate_texts(self, prompts: list[str], model: Any = None, seed: int | None = None,
                       temperature: float | None = None) -> list[str]:  # fmt: skip
        h = self.hparams
        return generate_responses(
            model if model is not None else self.policy, self.tokenizer, prompts, max_new_tokens=h.max_new_tokens,
            temperature=h.temperature if temperature is None else temperature, top_p=h.top_p,
            batch_size=h.gen_batch_size, stop=h.stop if h.stop is not None else ("Human:", "###"), seed=seed,
        )  # fmt: skip

    # --- objective --------------------------------------------------------------------------------------------------
    def forward(self, batch: Batch, length_norm: LengthNorm | None = None) -> torch.Tensor:
        """The (B, C, C) log-probability matrix of a batch of C^2 sequences per query."""
        return logprob_matrix(self.policy, batch["input_ids"], batch["attention_mask"], batch["response_mask"],
                              length_norm or self.cfg.length_norm, self.hparams.logprob_chunk)  # fmt: skip

    def loss_terms(self, batch: Batch) -> dict[str, torch.Tensor]:
        """``loss`` = 1/2 (row + column InfoNCE) (+ kl_beta * KL to the base model), its terms and accuracies."""
        terms = sami_loss(self(batch))
        if self.cfg.kl_beta > 0:
            b, cc, t = batch["input_ids"].shape
            c = round(math.sqrt(cc))
            diag = torch.arange(c, device=self.device) * (c + 1)  # own-constitution sequences (i, i)
            seq = {k: batch[k][:, diag].reshape(b * c, t) for k in ("input_ids", "attention_mask", "response_mask")}
            ids, att = seq["input_ids"], seq["attention_mask"]
            with self.reference_forward() as ref, torch.no_grad():  # LoRA: the same module, adapters disabled
                ref_logits = ref(input_ids=ids, attention_mask=att).logits
            kl = kl_from_logits(self.policy(input_ids=ids, attention_mask=att).logits, ref_logits, seq["response_mask"])
            terms["kl"] = kl
            terms["loss"] = terms["loss"] + self.cfg.kl_beta * kl
        return terms

    def predict_outputs(self, batch: Batch) -> torch.Tensor:
        """Per query the (C, C) log-probability matrix (B, C, C)."""
        return self(batch)

    def _shared_step(self, batch: Batch, stage: str) -> torch.Tensor:
        terms = self.loss_terms(batch)
        n = batch["input_ids"].shape[0]
        c = round(math.sqrt(batch["input_ids"].shape[1]))
        on_step = stage == "train"
        self.log(f"{stage}/loss", terms["loss"], on_step=on_step, on_epoch=True, prog_bar=True, batch_size=n,
                 sync_dist=True)  # fmt: skip
        for k in ("loss_row", "loss_col", "acc_row", "acc_col", "kl"):
            if k in terms:
                self.log(f"{stage}/{k}", terms[k], on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        # log C - column term: the InfoNCE bound with this length normalisation
        self.log(f"{stage}/mi_bound", math.log(c) - terms["loss_col"], on_epoch=True, batch_size=n, sync_dist=True)
        return terms["loss"]

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer([p for p in self.parameters() if p.requires_grad])

    # --- export -----------------------------------------------------------------------------------------------------
    def export_hf(self, folder: str | Path) -> Path:
        """Save the policy (LoRA merged into a copy) + tokenizer as a Hugging Face model folder."""
        folder = Path(folder)
        model = self.policy
        if self.hparams.lora_r > 0:
            model = copy.deepcopy(self.policy).merge_and_unload()
        model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return folder

    def on_fit_end(self) -> None:
        folder = run_dir(self.trainer)
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            log.info("Hugging Face model written to %s", self.export_hf(folder / "hf_model"))

    # --- evaluation: conditional MI and win rate --------------------------------------------------------------------
    def _mi(self, model: Any, prompts: list[list[str]], seed: int) -> torch.Tensor:
        """Per query Î from responses sampled by ``model`` under each constitution (summed log-probs). (B,)"""
        c = len(prompts[0])
        flat = [p for ps in prompts for p in ps]
        texts = self.generate_texts(flat, model=model, seed=seed, temperature=self.hparams.mi_temperature)
        tok = self.tokenizer
        eos = tok.eos_token_id if self.hparams.append_eos else None
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        seqs = []
        for k, ps in enumerate(prompts):
            p_ids = [tok(p)["input_ids"] for p in ps]
            r_ids = [tok(r, add_special_tokens=False)["input_ids"] for r in texts[k * c : (k + 1) * c]]
            seqs.append(build_sequences(p_ids, r_ids, pad, eos))
        t = max(s[0].shape[1] for s in seqs)
        padded = [[torch.nn.functional.pad(x, (0, t - x.shape[1]), value=v) for x, v in zip(s, (pad, 0, False))]
                  for s in seqs]  # fmt: skip
        ids, att, rm = (torch.stack([p[i] for p in padded]).to(self.device) for i in range(3))
        b = len(prompts)
        s = response_logprobs(model, ids.flatten(0, 1), att.flatten(0, 1), rm.flatten(0, 1), "sum",
                              self.hparams.logprob_chunk).view(b, c, c)  # fmt: skip
        return mi_lower_bound(s)

    def judge(self) -> Judge:
        if self._judge is None:
            h = self.hparams
            if h.judge == "toy_rules":
                self._judge = RuleJudge(toy_score)
            elif h.judge == "english_rules":
                self._judge = RuleJudge(lambda c, r: english_score(r))
            elif h.judge == "hf":
                if not h.judge_model:
                    raise PaperkitError("--model.judge hf needs --model.judge_model (a local model folder)")
                jm, jt = load_causal_lm(h.judge_model)
                self._judge = ChatJudge(HFBackend(jm.eval(), jt))
            else:
                if not h.judge_url or not h.judge_model:
                    raise PaperkitError("--model.judge openai needs --model.judge_url and --model.judge_model")
                self._judge = ChatJudge(OpenAIBackend(h.judge_url, h.judge_model, h.judge_api_key_env,
                                                      h.judge_timeout_s))  # fmt: skip
        return self._judge

    def on_test_epoch_start(self) -> None:
        self._test_rows.clear()

    def test_step(self, batch: dict[str, list[Any]], batch_idx: int) -> None:
        seed = 10_000 + batch_idx
        n = len(batch["query"])
        mi = self._mi(self.policy, batch["mi_prompts"], seed)
        with self.reference_forward() as ref:
            mi_base = self._mi(ref, batch["mi_prompts"], seed)
            base = self.generate_texts(
                batch["win_prompt"], model=ref, seed=seed, temperature=self.hparams.win_temperature
            )
        test = self.generate_texts(batch["win_prompt"], seed=seed, temperature=self.hparams.win_temperature)
        rows = win_rates(self.judge(), batch["win_constitution"], batch["query"], base, test,
                         seed=self.hparams.win_seed + batch_idx)  # fmt: skip
        win = torch.tensor([r[0] for r in rows])
        self.log("test/mi", mi.mean(), batch_size=n, sync_dist=True)
        self.log("test/mi_base", mi_base.mean(), batch_size=n, sync_dist=True)
        self.log("test/mi_gain", (mi - mi_base).mean(), batch_size=n, sync_dist=True)
        self.log("test/win_rate", win.mean(), batch_size=n, sync_dist=True)
        self.log("test/len_base", torch.tensor([r[1] for r in rows]).mean(), batch_size=n, sync_dist=True)
        self.log("test/len_sami", torch.tensor([r[2] for r in rows]).mean(), batch_size=n, sync_dist=True)
        for k in range(n):
            self._test_rows.append({"index": int(batch["index"][k]), "query": batch["query"][k],
                                    "constitution": batch["win_constitution"][k],
                                    "base": base[k], "sami": test[k], "win": rows[k], "mi": float(mi[k]),
                                    "mi_base": float(mi_base[k])})  # fmt: skip

    def on_test_epoch_end(self) -> None:
        folder = run_dir(self.trainer)
        # a collective: every rank's queries; DDP's sampler pads with repeats, so one row per query index
        r = list({x["index"]: x for x in gather_rows(self.trainer, self._test_rows)}.values())
        r.sort(key=lambda x: x["index"])
        if not self.trainer.is_global_zero or not r:
            return
        cons, qs = [x["constitution"] for x in r], [x["query"] for x in r]
        save_eval_responses(cons, qs, [x["sami"] for x in r], folder / "responses_sami.json")
        save_eval_responses(cons, qs, [x["base"] for x in r], folder / "responses_base.json")
        save_json([x["win"] for x in r], folder / "win_rates.json")
        save_json(r, folder / "test_rows.json")

    def predict_step(self, batch: dict[str, list[Any]], batch_idx: int) -> list[dict[str, object]]:
        """One row per query: its index, the query, the constitution and the policy's response."""
        texts = self.generate_texts(batch["prompt"], seed=batch_idx, temperature=self.hparams.win_temperature)
        return [{"id": int(i), "query": q, "constitution": c, "response": t}
                for i, q, c, t in zip(batch["index"], batch["query"], batch["constitution"], texts)]  # fmt: skip
