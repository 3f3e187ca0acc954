"""Any local causal LM by path: a tiny random Llama saved with ``save_pretrained`` to a temporary folder, loaded
through the same path as a user's model; the objective trains every parameter (full fine-tuning) or only the LoRA
adapters; the trained model is written as a folder that ``AutoModelForCausalLM.from_pretrained`` loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from paperkit.errors import PaperkitError
from paperkit.testing import assert_all_params_get_grad
from sami.data import collate_sami
from sami.model import build_sequences, logprob_matrix, response_logprobs
from sami.module import SamiModule, load_causal_lm


def _batch(tok, n_queries: int = 2) -> dict[str, torch.Tensor]:
    items = []
    for k in range(n_queries):
        prompts = [tok(f"Constitution:\n1. Be kind.\n\nHuman: hello {k}\n\nAssistant:")["input_ids"],
                   tok(f"Constitution:\n1. Be short.\n\nHuman: hello {k}\n\nAssistant:")["input_ids"]]  # fmt: skip
        responses = [
            tok(" hi there", add_special_tokens=False)["input_ids"],
            tok(" hi", add_special_tokens=False)["input_ids"],
        ]
        ids, att, resp = build_sequences(prompts, responses, tok.pad_token_id, tok.eos_token_id)
        items.append({"input_ids": ids, "attention_mask": att, "response_mask": resp, "pad_id": tok.pad_token_id,
                      "index": k})  # fmt: skip
    return collate_sami(items)


def test_logprobs_match_a_manual_computation(tiny_lm_dir: Path) -> None:
    model, tok = load_causal_lm(str(tiny_lm_dir))
    batch = _batch(tok, 1)
    L_mean = logprob_matrix(model, batch["input_ids"], batch["attention_mask"], batch["response_mask"], "mean")
    L_sum = logprob_matrix(model, batch["input_ids"], batch["attention_mask"], batch["response_mask"], "sum")
    # (c_1, r_0) by hand: log-softmax of the unpadded sequence, the response tokens and the EOS as targets
    ids = batch["input_ids"][0, 2][batch["attention_mask"][0, 2].bool()]
    resp = batch["response_mask"][0, 2][batch["attention_mask"][0, 2].bool()]
    with torch.no_grad():
        logp = model(input_ids=ids[None]).logits[0].log_softmax(-1)
    pos = resp.nonzero().flatten()
    manual = sum(float(logp[t - 1, ids[t]]) for t in pos)
    assert float(L_sum[0, 1, 0]) == pytest.approx(manual, abs=1e-4)
    assert float(L_mean[0, 1, 0]) == pytest.approx(manual / len(pos), abs=1e-5)
    # padding does not change a sequence's log-probability (right padding, attention mask)
    alone = response_logprobs(model, ids[None], torch.ones_like(ids)[None], resp[None], "sum")
    assert float(alone[0]) == pytest.approx(manual, abs=1e-4)


def test_full_fine_tuning_trains_every_parameter(tiny_lm_dir: Path) -> None:
    m = SamiModule(name_or_path=str(tiny_lm_dir))
    batch = _batch(m.tokenizer)
    assert_all_params_get_grad(m, m.loss_terms(batch)["loss"])
    assert not any(p.requires_grad for p in m._ref[0].parameters())  # the frozen base model


def test_kl_term_is_zero_at_the_start_and_trained(tiny_lm_dir: Path) -> None:
    m = SamiModule(name_or_path=str(tiny_lm_dir), kl_beta=0.5)
    terms = m.loss_terms(_batch(m.tokenizer))
    assert float(terms["kl"]) == pytest.approx(0.0, abs=1e-6)  # the policy starts as the base model
    torch.testing.assert_close(terms["loss"], 0.5 * (terms["loss_row"] + terms["loss_col"]) + 0.5 * terms["kl"])


@pytest.mark.parametrize("lora_r", [0, 4])
def test_kl_term_grows_once_the_policy_moves_and_reaches_the_trained_parameters(tiny_lm_dir: Path, lora_r: int) -> None:
    """After a few steps KL(pi || pi_ref) > 0 and has a gradient, for full fine-tuning (a frozen copy as reference)
    and for LoRA (the same module with its adapters disabled, where a KL computed inside the disabled context would
    stay exactly 0)."""
    torch.manual_seed(0)  # LoRA's A matrices are drawn at random: the size of the first steps depends on them
    m = SamiModule(name_or_path=str(tiny_lm_dir), kl_beta=0.5, lora_r=lora_r)
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.5)
    batch = _batch(m.tokenizer)
    for _ in range(3):
        opt.zero_grad()
        m.loss_terms(batch)["loss"].backward()
        opt.step()
    opt.zero_grad()
    kl = m.loss_terms(batch)["kl"]
    assert float(kl) > 1e-4
    kl.backward()
    assert sum(float(p.grad.abs().sum()) for p in params if p.grad is not None) > 0


def test_lora_trains_adapters_only_and_exports_a_loadable_merged_model(tiny_lm_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    m = SamiModule(name_or_path=str(tiny_lm_dir), lora_r=4)
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    batch = _batch(m.tokenizer)
    for _ in range(2):  # lora_B starts at zero: after one step lora_A gets gradients too
        opt.zero_grad()
        m.loss_terms(batch)["loss"].backward()
        opt.step()
    assert_all_params_get_grad(m, m.loss_terms(batch)["loss"])
    folder = m.export_hf(tmp_path / "hf_model")
    loaded = AutoModelForCausalLM.from_pretrained(folder)
    m.eval()
    with torch.no_grad():
        want = m(batch)
        got = logprob_matrix(loaded, batch["input_ids"], batch["attention_mask"], batch["response_mask"])
        with m.reference_forward() as base:  # adapters disabled = the base model, which differs now
            base_l = logprob_matrix(base, batch["input_ids"], batch["attention_mask"], batch["response_mask"])
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(base_l, want, atol=1e-4)


def test_a_missing_model_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PaperkitError, match="no such folder"):
        load_causal_lm(str(tmp_path / "nope"))


def test_chat_template_prompts_put_the_constitution_in_the_system_turn(tiny_lm_dir: Path) -> None:
    from sami.constitutions import format_chat_prompt

    _, tok = load_causal_lm(str(tiny_lm_dir))
    with pytest.raises(PaperkitError, match="no chat template"):
        format_chat_prompt(tok, "1. Be kind.", "hello?")
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")  # fmt: skip
    text = format_chat_prompt(tok, "1. Be kind.\n2. Be short.", "hello?")
    assert text.startswith("<|system|>") and text.endswith("<|user|>hello?\n<|assistant|>")
    system = text.split("<|user|>")[0]
    assert "Constitution:\n1. Be kind.\n2. Be short." in system


def test_eos_token_override_sets_eos_and_pad_for_training_and_generation(tiny_lm_dir: Path) -> None:
    _, tok = load_causal_lm(str(tiny_lm_dir))
    other = tok.convert_ids_to_tokens(5)  # any token that is not the EOS
    m = SamiModule(name_or_path=str(tiny_lm_dir), eos_token=other)
    want = m.tokenizer.convert_tokens_to_ids(other)
    assert want != tok.eos_token_id
    assert m.tokenizer.eos_token_id == m.tokenizer.pad_token_id == want
    assert m.policy.generation_config.eos_token_id == want
    with pytest.raises(PaperkitError, match="not a token"):
        SamiModule(name_or_path=str(tiny_lm_dir), eos_token="<no such token>")
