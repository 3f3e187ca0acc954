"""The official JSON formats on fixtures written in those formats, the query sources, and bad input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from paperkit.errors import DataFormatError, DataNotFoundError
from sami.constitutions import (
    ConstitutionPair,
    Principle,
    all_constitutions,
    load_constitutions,
    pairs_from_principles,
    save_constitutions,
    shuffle_principles,
    split_principles,
)
from sami.data import collate_sami, mi_constitutions
from sami.formats import (
    Example,
    load_eval_responses,
    load_queries,
    load_training_data,
    save_eval_responses,
    save_training_data,
)

P = (Principle("concise", "Be concise.", "Be verbose."), Principle("comprehensive", "Be thorough.", "Omit things."))


def test_constitution_files_round_trip_in_the_official_format(tmp_path: Path) -> None:
    # an official-format file written by hand
    official = {"positive": "1. Be concise.\n2. Be thorough.", "negative": "1. Be verbose.\n2. Be thorough.",
                "identifiers": {"positive": ["pos concise", "pos comprehensive"],
                                "negative": ["neg concise", "pos comprehensive"]}}  # fmt: skip
    (tmp_path / "0.json").write_text(json.dumps(official))
    [pair] = load_constitutions(tmp_path)
    assert pair == ConstitutionPair(official["positive"], official["negative"], official["identifiers"])
    pairs = pairs_from_principles(P)
    assert len(pairs) == 6  # 3 negatives x 2 orders
    assert pairs[0].to_json() == official
    save_constitutions(pairs, tmp_path / "out")
    assert load_constitutions(tmp_path / "out") == pairs
    assert json.loads((tmp_path / "out" / "0.json").read_text()) == official
    # a `sami write-principles` folder: principles.json beside the numbered files is not read as a constitution
    (tmp_path / "out" / "principles.json").write_text(json.dumps([{"name": "concise", "text": "Be concise."}]))
    assert load_constitutions(tmp_path / "out") == pairs


def test_mi_constitutions_are_every_combination_in_one_order() -> None:
    pairs = pairs_from_principles(P)
    mi = mi_constitutions(pairs)
    assert mi == [c for c, _ in all_constitutions(P)]
    assert len(set(mi)) == 4


def test_shuffled_principles_are_renumbered() -> None:
    c = "1. Be concise.\n2. Be thorough."
    seen = {shuffle_principles(c, random.Random(s)) for s in range(20)}
    assert seen == {c, "1. Be thorough.\n2. Be concise."}
    assert split_principles(c) == ["Be concise.", "Be thorough."]


def test_training_data_round_trip(tmp_path: Path) -> None:
    official = {"7": [{"prompt": "P0", "response": " r0", "example_id": 7},
                      {"prompt": "P1", "response": " r1", "example_id": 7}]}  # fmt: skip
    (tmp_path / "train.json").write_text(json.dumps(official))
    [ex] = load_training_data(tmp_path / "train.json")
    assert ex == Example("7", ["P0", "P1"], [" r0", " r1"])
    save_training_data([ex], tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text())
    assert list(again) == ["7"] and [r["prompt"] for r in again["7"]] == ["P0", "P1"]
    assert load_training_data(tmp_path / "again.json") == [ex]


def test_eval_responses_round_trip(tmp_path: Path) -> None:
    save_eval_responses(["c", "c"], ["POST: a", "POST: b"], ["x", "y"], tmp_path / "r.json")
    obj = json.loads((tmp_path / "r.json").read_text())
    assert obj["question"] == {"0": "POST: a", "1": "POST: b"} and obj["response"]["1"] == "y"
    assert load_eval_responses(tmp_path / "r.json") == (["c", "c"], ["POST: a", "POST: b"], ["x", "y"])


def test_tldr_and_hh_queries_from_local_files(tmp_path: Path) -> None:
    rows = [{"info": {"id": "t1", "post": "My cat is sick.", "title": "cat", "subreddit": "pets"}, "choice": 0},
            {"info": {"id": "t1", "post": "My cat is sick.", "title": "cat", "subreddit": "pets"}, "choice": 1},
            {"info": {"id": "t2", "post": "I lost my job.", "subreddit": "adv"}, "choice": 0}]  # fmt: skip
    (tmp_path / "comparisons.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert load_queries(tmp_path / "comparisons.jsonl", "tldr") == ["POST: My cat is sick.", "POST: I lost my job."]
    hh = [{"chosen": "\n\nHuman: How do I bake bread?\n\nAssistant: Mix flour.\n\nHuman: thanks", "rejected": "x"}]
    (tmp_path / "hh.jsonl").write_text(json.dumps(hh[0]) + "\n")
    assert load_queries(tmp_path / "hh.jsonl", "hh") == ["How do I bake bread?"]
    (tmp_path / "q.json").write_text(json.dumps({"queries": ["a?", "b?"]}))
    assert load_queries(tmp_path / "q.json") == ["a?", "b?"]


def test_bad_files_are_one_paragraph_errors_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "3.json"
    bad.write_text(json.dumps({"positive": "1. Be concise.", "identifiers": {}}))
    with pytest.raises(DataFormatError, match=r"3\.json.*no negative constitution.*'negative'"):
        load_constitutions(bad)
    wrong = tmp_path / "train.json"
    wrong.write_text(json.dumps({"0": [{"prompt": "only one record", "response": "r"}]}))
    with pytest.raises(DataFormatError, match=r"train\.json.*key '0'"):
        load_training_data(wrong)
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    with pytest.raises(DataFormatError, match=r"list\.json"):
        load_training_data(tmp_path / "list.json")
    with pytest.raises(DataFormatError, match=r"list\.json.*query strings"):
        load_queries(tmp_path / "list.json")
    with pytest.raises(DataNotFoundError, match=r"nope\.json"):
        load_queries(tmp_path / "nope.json")
    (tmp_path / "bytes.json").write_bytes(bytes(range(256)))
    with pytest.raises(DataFormatError, match=r"bytes\.json"):
        load_queries(tmp_path / "bytes.json")


def test_collator_pads_and_keeps_row_major_order() -> None:
    import torch

    from sami.model import build_sequences

    items = []
    for k, (prompts, responses) in enumerate([([[1], [2, 2]], [[5], [6, 6]]), ([[3], [4]], [[7, 7, 7], [8]])]):
        ids, att, resp = build_sequences(prompts, responses, pad_id=0, eos_id=9)
        items.append({"input_ids": ids, "attention_mask": att, "response_mask": resp, "pad_id": 0, "index": k})
    batch = collate_sami(items)
    assert batch["input_ids"].shape == (2, 4, 5)
    assert batch["input_ids"][0, 1].tolist() == [1, 6, 6, 9, 0]  # (c_0, r_1)
    assert batch["input_ids"][0, 2].tolist() == [2, 2, 5, 9, 0]  # (c_1, r_0)
    assert batch["input_ids"][1, 0].tolist() == [3, 7, 7, 7, 9]
    assert batch["attention_mask"][0, 0].tolist() == [1, 1, 1, 0, 0]
    assert batch["response_mask"][1, 3].tolist() == [False, True, True, False, False]
    assert torch.equal(batch["index"], torch.tensor([0, 1]))


def _hh_row(k: int) -> dict:
    return {"chosen": f"\n\nHuman: question {k}?\n\nAssistant: answer {k}", "rejected": "\n\nHuman: x\n\nAssistant: y"}


def _tldr_row(k: int, pid: str) -> dict:
    return {"info": {"id": pid, "post": f"post {pid} ", "title": "t", "subreddit": "r"}, "choice": k % 2}


def test_hf_datasets_are_read_from_local_caches_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "ds"))
    # 1. a local snapshot of the dataset repository (HH-RLHF: <data_dir>/<split>.jsonl.gz)
    local = tmp_path / "Anthropic" / "hh-rlhf" / "helpful-base"
    local.mkdir(parents=True)
    (local / "train.jsonl.gz").write_bytes(gzip.compress("\n".join(json.dumps(_hh_row(k)) for k in range(3)).encode()))
    (local / "test.jsonl.gz").write_bytes(gzip.compress(json.dumps(_hh_row(9)).encode()))
    assert load_queries("hf:Anthropic/hh-rlhf:helpful-base:train", "hh") == [f"question {k}?" for k in range(3)]
    assert load_queries("hf:Anthropic/hh-rlhf:helpful-base:test", "hh") == ["question 9?"]
    # 2. the hub cache (TL;DR as Parquet shards, rows with the info struct), de-duplicated by info.id
    snap = tmp_path / "hub" / "datasets--openai--summarize_from_feedback" / "snapshots" / "abc123" / "comparisons"
    snap.mkdir(parents=True)
    rows = [_tldr_row(k, pid) for k, pid in enumerate(["a", "a", "b"])]
    pq.write_table(pa.Table.from_pylist(rows), snap / "validation-00000-of-00001.parquet")
    got = load_queries("hf:openai/summarize_from_feedback:comparisons:validation", "tldr")
    assert got == ["POST: post a", "POST: post b"]
    # 3. the datasets library's Arrow cache
    ds = tmp_path / "ds" / "openai___summarize_from_feedback" / "comparisons" / "0.0.0" / "f00d"
    ds.mkdir(parents=True)
    table = pa.Table.from_pylist([_tldr_row(0, "c")])
    with pa.OSFile(str(ds / "summarize_from_feedback-train.arrow"), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table)
    assert load_queries("hf:openai/summarize_from_feedback:comparisons:train", "tldr") == ["POST: post c"]
    # not in any cache: a one-paragraph error naming the dataset, never a download
    with pytest.raises(DataNotFoundError, match="harmless-base"):
        load_queries("hf:Anthropic/hh-rlhf:harmless-base:train", "hh")
    with pytest.raises(DataFormatError, match="hf:<owner>/<name>"):
        load_queries("hf:hh-rlhf", "hh")
    # a cached file of the wrong kind names the file and the row
    (local / "train.jsonl.gz").write_bytes(gzip.compress(json.dumps({"text": "no dialogue"}).encode()))
    with pytest.raises(DataFormatError, match=r"train\.jsonl\.gz.*row 0"):
        load_queries("hf:Anthropic/hh-rlhf:helpful-base:train", "hh")
