"""Data tests: real-format loaders on fixtures in the official formats, image policies, the synthetic generator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from clfa.data import CLFADataModule, ImageReader
from clfa.datasets import load_mmsd, load_mmsd2, load_mvsa, resolve_mvsa_label
from clfa.synthetic import SyntheticSpec, World, WorldCLIP, generate_synthetic
from paperkit.errors import DataFormatError, DataNotFoundError

from .helpers import mmsd2_rows, save_tiny_bert_tokenizer, write_jpg, write_mmsd, write_mmsd2, write_mvsa

SMALL = SyntheticSpec(n_train=64, n_valid=32, n_test=32)


def test_mmsd_loader_parses_literals_and_filters_keywords(tmp_path) -> None:
    rows = [
        ["682716753374351360", "what a great monday <user>", "ocr words", 1],
        ["682716753374351361", "this is pure sarcasm", "", 1],  # filtered (keyword)
        ["682716753374351362", "it's raining, love it", "", 0],  # apostrophe: python-literal quoting
        ["682716753374351363", "no ocr column here", 0],  # 3-field variant
    ]
    write_mmsd(tmp_path, {"train": rows, "valid": rows[:1], "test": rows[:1]})
    ex = load_mmsd(tmp_path, "train")
    assert [e.id for e in ex] == ["682716753374351360", "682716753374351362", "682716753374351363"]
    assert ex[0].ocr == "ocr words" and ex[0].label == 1 and ex[0].image.is_file()
    assert ex[1].text == "it's raining, love it"
    assert len(load_mmsd(tmp_path, "train", filter_keywords=False)) == 4


def test_mmsd_keyword_filter_is_exact_and_case_sensitive_like_the_official_code(tmp_path) -> None:
    rows = [
        ["1", "Sarcasm at its best", "", 1],  # capitalised: kept by the official (case-sensitive) match
        ["2", "pure sarcasm", "", 1],  # exact token: dropped
        ["3", "sarcasm!", "", 1],  # punctuation glued to the word: not the token "sarcasm", kept
        ["4", "an ironic day", "", 0],  # dropped
    ]
    write_mmsd(tmp_path, {"train": rows})
    assert [e.id for e in load_mmsd(tmp_path, "train")] == ["1", "3"]
    assert [e.id for e in load_mmsd(tmp_path, "train", keyword_match="lower")] == ["3"]


def test_mmsd_errors(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match=r"train\.txt"):
        load_mmsd(tmp_path, "train")
    write_mmsd(tmp_path, {"train": [["1", "x", "", 0]]})
    (tmp_path / "train.txt").write_text("not a list\n")
    with pytest.raises(DataFormatError, match="line 1"):
        load_mmsd(tmp_path, "train")


def test_mmsd2_loader(tmp_path) -> None:
    write_mmsd2(tmp_path, {s: mmsd2_rows(4, k * 10) for k, s in enumerate(("train", "valid", "test"))})
    ex = load_mmsd2(tmp_path, "valid")
    assert len(ex) == 4 and ex[0].id == "700010" and ex[0].image.name == "700010.jpg"
    (tmp_path / "text_json_final" / "test.json").write_text(json.dumps([{"id": 1}]))
    with pytest.raises(DataFormatError):
        load_mmsd2(tmp_path, "test")
    with pytest.raises(DataNotFoundError) as err:
        load_mmsd2(tmp_path / "nowhere", "train")
    assert "text_json_final" in str(err.value) and "MMSD2.0" in str(err.value)


def test_mmsd2_clean_text_variant(tmp_path) -> None:
    """text_json_clean ships valid/test only (with an extra key "1"); train stays on text_json_final."""
    write_mmsd2(tmp_path, {s: mmsd2_rows(3, k * 10) for k, s in enumerate(("train", "valid", "test"))})
    clean = [{**r, "text": r["text"].upper(), "1": r["text"].upper()} for r in mmsd2_rows(3, 10)]
    (tmp_path / "text_json_clean").mkdir()
    (tmp_path / "text_json_clean" / "valid.json").write_text(json.dumps(clean))
    assert [e.text for e in load_mmsd2(tmp_path, "valid", text="clean")] == [r["text"] for r in clean]
    assert [e.text for e in load_mmsd2(tmp_path, "valid")] != [r["text"] for r in clean]
    assert len(load_mmsd2(tmp_path, "train", text="clean")) == 3  # from text_json_final
    with pytest.raises(DataNotFoundError, match="text_json_clean"):
        load_mmsd2(tmp_path, "test", text="clean")


def test_mvsa_cleaning_rules() -> None:
    assert resolve_mvsa_label("positive", "positive") == "positive"
    assert resolve_mvsa_label("neutral", "negative") == "negative"
    assert resolve_mvsa_label("positive", "neutral") == "positive"
    assert resolve_mvsa_label("positive", "negative") is None


def test_mvsa_official_split_is_per_class_in_file_order(tmp_path) -> None:
    # 20 positive (ids 1..20 in file order), 10 negative (21..30), one dropped pair
    labels = {str(i): [("positive", "neutral")] for i in range(1, 21)}
    labels |= {str(i): [("negative", "negative")] for i in range(21, 31)}
    labels["31"] = [("positive", "negative")]  # dropped by the cleaning
    write_mvsa(tmp_path, labels)
    splits = {s: [e.id for e in load_mvsa(tmp_path, s)] for s in ("train", "valid", "test")}
    assert splits["train"] == [str(i) for i in (*range(1, 17), *range(21, 29))]  # first 80 % of each class
    assert splits["valid"] == ["17", "18", "29"] and splits["test"] == ["19", "20", "30"]
    e = next(e for e in load_mvsa(tmp_path, "train") if e.id == "21")
    assert e.label == 1 and e.text == "tweet number 21 #mvsa"  # negative = 1


def test_mvsa_shuffled_split_is_seeded_and_keyed_by_its_settings(tmp_path, caplog) -> None:
    labels = {str(i): [("positive", "neutral") if i % 3 else ("negative", "negative")] for i in range(1, 31)}
    write_mvsa(tmp_path, labels)
    a = [e.id for e in load_mvsa(tmp_path, "test", split_seed=3, split_mode="shuffle")]
    assert a == [e.id for e in load_mvsa(tmp_path, "test", split_seed=3, split_mode="shuffle")]
    assert a != [e.id for e in load_mvsa(tmp_path, "test", split_seed=4, split_mode="shuffle")]
    assert a != [e.id for e in load_mvsa(tmp_path, "test")]  # official split: its own file
    assert len(list(tmp_path.glob("clfa_split_*.json"))) == 3
    # a changed label file never reuses the old split
    (tmp_path / "labelResultAll.txt").write_text(
        "ID\ttext,image\n" + "".join(f"{i}\tneutral,neutral\n" for i in range(1, 11))
    )
    assert {e.label for s in ("train", "valid", "test") for e in load_mvsa(tmp_path, s)} == {2}
    # counts against the published size, and missing texts, are reported
    assert "literature reports 4511" in caplog.text
    (tmp_path / "data" / "1.txt").unlink()
    with caplog.at_level("WARNING"):
        load_mvsa(tmp_path, "train")
    assert "no text file" in caplog.text and "1.txt" in caplog.text


def test_mvsa_reads_the_official_aggregated_label_file(tmp_path) -> None:
    write_mvsa(tmp_path, {str(i): [("positive", "positive")] for i in range(1, 11)})
    # CLFA's aggregate_label.txt (id<TAB>label, 0 pos / 1 neg / 2 neu) takes precedence over labelResultAll.txt
    (tmp_path / "aggregate_label.txt").write_text("".join(f"{i}\t{i % 3}\n" for i in range(1, 11)))
    ex = {e.id: e.label for s in ("train", "valid", "test") for e in load_mvsa(tmp_path, s)}
    assert ex == {str(i): i % 3 for i in range(1, 11)}
    (tmp_path / "aggregate_label.txt").write_text("1\tpositive\n")
    with pytest.raises(DataFormatError, match="line 1"):
        load_mvsa(tmp_path, "train")


def test_mvsa_multiple_majority_vote(tmp_path) -> None:
    labels = {
        "1": [("positive", "positive"), ("positive", "neutral"), ("negative", "negative")],  # positive (2 of 3)
        "2": [("positive", "negative"), ("neutral", "neutral"), ("negative", "neutral")],  # no majority -> dropped
        "3": [("neutral", "neutral"), ("neutral", "neutral"), ("positive", "positive")],  # neutral
    }
    write_mvsa(tmp_path, labels)
    ex = [e for s in ("train", "valid", "test") for e in load_mvsa(tmp_path, s, multiple=True)]
    assert {e.id: e.label for e in ex} == {"1": 0, "3": 2}
    (tmp_path / "labelResultAll.txt").write_text("ID\ttext,image\n1\tpositive,positive\n")
    with pytest.raises(DataFormatError):
        load_mvsa(tmp_path, "train", multiple=True)


def test_missing_and_unreadable_images_follow_the_policy(tmp_path, caplog) -> None:
    rows = mmsd2_rows(6)
    write_mmsd2(tmp_path, {"train": rows, "valid": rows, "test": rows})
    (tmp_path / "dataset_image" / f"{rows[0]['image_id']}.jpg").unlink()
    (tmp_path / "dataset_image" / f"{rows[1]['image_id']}.jpg").write_bytes(b"not a jpeg")
    tok = save_tiny_bert_tokenizer(tmp_path / "tok")
    kw = {"dataset": "mmsd2", "root": str(tmp_path), "tokenizer": str(tok), "teacher": "none", "max_seq_length": 8}
    dm = CLFADataModule(**kw, missing_image="skip")
    dm.setup("fit")
    assert len(dm.splits["train"]) == 5
    items = [dm.splits["train"][i] for i in range(5)]  # the unreadable one does not raise
    assert dm.reader.failed >= 1
    assert items[0]["pixel_values"].shape == (3, 32, 32) and items[0]["input_ids"].shape == (8,)
    assert torch.allclose(items[0]["pixel_values"], torch.full((3, 32, 32), 128 / 255 * 2 - 1), atol=1e-2)
    assert "missing" in caplog.text and "Unreadable" in caplog.text
    dm2 = CLFADataModule(**kw, missing_image="blank")
    dm2.setup("fit")
    assert len(dm2.splits["train"]) == 6
    batch = next(iter(dm2.train_dataloader()))
    assert batch["pixel_values"].shape == (6, 3, 32, 32)


def test_image_reader_grey_fallback(tmp_path) -> None:
    reader = ImageReader(16)
    img = reader(tmp_path / "missing.jpg")
    assert img.size == (16, 16) and reader.failed == 1
    write_jpg(tmp_path / "ok.jpg", 0)
    assert reader(tmp_path / "ok.jpg").size == (24, 24)


def test_synthetic_generator_is_deterministic_and_in_mmsd2_format(tmp_path) -> None:
    a, b = generate_synthetic(tmp_path / "a", SMALL), generate_synthetic(tmp_path / "b", SMALL)
    for split in ("train", "valid", "test"):
        assert (a / "text_json_final" / f"{split}.json").read_text() == (
            b / "text_json_final" / f"{split}.json"
        ).read_text()
    rows = load_mmsd2(a, "train")
    assert len(rows) == 64 and {r.label for r in rows} == {0, 1}
    assert rows[0].image.read_bytes() == (b / "dataset_image" / rows[0].image.name).read_bytes()
    assert len(rows[0].text.split()) == 12


def test_world_teacher_recognises_concepts_and_carries_the_label() -> None:
    """The CLIP stand-in reads the concept from the stored pixels; comparing its two embeddings solves the task."""
    world = World(12, 32, 0)
    texts, pix, labels, c_t, c_i = world.sample(400, seed=5)
    teacher = WorldCLIP(world)
    assert (teacher.image_concepts(pix) == c_i).mean() > 0.98
    assert [teacher.text_concept(t) for t in texts] == list(c_t)
    cos = (teacher.encode_text(texts) * teacher.encode_image(pix)).sum(1)
    assert ((cos < 0.5).astype(int) == labels).mean() > 0.97
    assert 0.4 < labels.mean() < 0.6


def test_text_alone_or_image_alone_carries_no_label() -> None:
    """Each modality alone is independent of the label (balanced concepts per class), so fusion is required."""
    world = World(12, 32, 0)
    _, _, labels, c_t, c_i = world.sample(6000, seed=7)
    for c in (c_t, c_i):
        rate = np.array([labels[c == k].mean() for k in range(12)])
        assert np.all(np.abs(rate - 0.5) < 0.08)


def test_synthetic_datamodule_batches(tmp_path) -> None:
    dm = CLFADataModule(root=str(tmp_path / "syn"), synthetic=SMALL, batch_size=8)
    dm.prepare_data()
    dm.setup("fit")
    b = next(iter(dm.train_dataloader()))
    assert b["input_ids"].shape == (8, 14) and b["pixel_values"].shape == (8, 3, 32, 32)
    assert b["teacher_text"].shape == (8, 32) and b["teacher_image"].shape == (8, 32)
    assert int(b["attention_mask"].sum(1).min()) == 14  # CLS + 12 words + SEP, no unknown words
    assert dm.vocab_size == 5 + 27 + 24 and dm.n_classes == 2


def test_predict_list_without_text_is_a_format_error(tmp_path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"image": "a.jpg", "text": "fine"}, {"image": "a.jpg"}]))
    with pytest.raises(DataFormatError, match="entry 1 lacks 'text'") as err:
        CLFADataModule._predict_list(path)
    assert "pairs.json" in str(err.value)
    path.write_text(json.dumps({"image": "a.jpg", "text": "not a list"}))
    with pytest.raises(DataFormatError, match="not a JSON list"):
        CLFADataModule._predict_list(path)
