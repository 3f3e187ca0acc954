"""Teacher caching and pretrained loading through the same code paths a hub name uses (tiny random models saved with
``save_pretrained`` into tmp_path)."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertModel, ViTConfig, ViTModel

import clfa.teacher as teacher_mod
from clfa.data import CLFADataModule
from clfa.datasets import load_mmsd2
from clfa.encoders import EncoderSizes, build_image_encoder, build_text_encoder
from clfa.synthetic import SyntheticSpec
from clfa.teacher import cache_key, teacher_embeddings

from .helpers import mmsd2_rows, save_tiny_bert_tokenizer, save_tiny_clip, write_mmsd2

SMALL = SyntheticSpec(n_train=48, n_valid=16, n_test=16)


def test_second_run_reuses_the_teacher_cache(tmp_path, monkeypatch) -> None:
    calls = []
    real = teacher_mod.compute_teacher

    def counting(*args, **kwargs):
        calls.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(teacher_mod, "compute_teacher", counting)
    root = str(tmp_path / "syn")
    dm = CLFADataModule(root=root, synthetic=SMALL)
    dm.prepare_data()
    dm.setup("fit")
    assert calls == [48, 16, 16]  # computed once per split, setup read the cache
    first = dm.splits["train"].teacher[0].clone()

    dm2 = CLFADataModule(root=root, synthetic=SMALL)  # a "second run"
    dm2.prepare_data()
    dm2.setup("fit")
    assert calls == [48, 16, 16]
    torch.testing.assert_close(dm2.splits["train"].teacher[0], first)


def test_cache_key_depends_on_teacher_and_data(tmp_path) -> None:
    write_mmsd2(tmp_path, {"train": mmsd2_rows(3)})
    ex = load_mmsd2(tmp_path, "train")
    assert cache_key("hf:a", ex) == cache_key("hf:a", ex)
    assert cache_key("hf:a", ex) != cache_key("hf:b", ex)
    ex[0].text = "changed"
    assert cache_key("hf:a", ex) != cache_key("hf:a", load_mmsd2(tmp_path, "train"))


def test_changed_pixels_at_the_same_file_size_recompute_the_teacher(tmp_path, monkeypatch) -> None:
    """The cache key hashes the image bytes: one image edited in place (same size) must not reuse the cache."""
    from PIL import Image

    from clfa.data import ImageReader

    clip_dir = save_tiny_clip(tmp_path / "clip", proj_dim=8)
    write_mmsd2(tmp_path / "mmsd2", {"train": mmsd2_rows(3)})
    ex = load_mmsd2(tmp_path / "mmsd2", "train")
    path = ex[0].image
    Image.open(path).convert("RGB").save(path, format="BMP")  # uncompressed: edited pixels keep the file size
    size = path.stat().st_size
    calls = []
    real = teacher_mod.compute_teacher
    monkeypatch.setattr(teacher_mod, "compute_teacher", lambda *a, **k: calls.append(1) or real(*a, **k))
    run = lambda: teacher_embeddings(f"hf:{clip_dir}", ex, ImageReader(32), tmp_path / "cache", "t")  # noqa: E731
    _, first = run()
    run()
    assert len(calls) == 1  # the second call read the cache
    pixels = Image.open(path).convert("RGB")
    Image.frombytes("RGB", pixels.size, bytes(255 - b for b in pixels.tobytes())).save(path, format="BMP")
    assert path.stat().st_size == size  # same file, same size, other pixels
    _, second = run()
    assert len(calls) == 2 and not torch.allclose(first[0], second[0])


def test_teacher_revision_and_processor_are_part_of_the_key(tmp_path) -> None:
    clip_dir = save_tiny_clip(tmp_path / "clip", proj_dim=8)
    before = teacher_mod.teacher_fingerprint(f"hf:{clip_dir}")
    proc_file = clip_dir / "preprocessor_config.json"
    import json

    cfg = json.loads(proc_file.read_text())
    cfg["image_mean"] = [0.0, 0.0, 0.0]
    proc_file.write_text(json.dumps(cfg))
    after = teacher_mod.teacher_fingerprint(f"hf:{clip_dir}")
    assert before["preprocess"] != after["preprocess"] and before["revision"] != after["revision"]


def test_hf_clip_teacher_from_a_saved_folder(tmp_path) -> None:
    """A tiny random CLIPModel + CLIPProcessor written with save_pretrained, loaded as 'hf:<folder>'."""
    clip_dir = save_tiny_clip(tmp_path / "clip", proj_dim=8)
    write_mmsd2(tmp_path / "mmsd2", {"train": mmsd2_rows(5)})
    ex = load_mmsd2(tmp_path / "mmsd2", "train")
    from clfa.data import ImageReader

    text, image = teacher_embeddings(f"hf:{clip_dir}", ex, ImageReader(32), tmp_path / "cache", "t", batch_size=2)
    assert text.shape == (5, 8) and image.shape == (5, 8)
    assert torch.isfinite(text).all() and torch.isfinite(image).all()
    assert not torch.allclose(image[0], image[1])  # depends on the image


def test_pretrained_encoders_load_from_saved_folders(tmp_path) -> None:
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32), add_pooling_layer=False)  # fmt: skip
    vit = ViTModel(ViTConfig(image_size=32, patch_size=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32), add_pooling_layer=False)  # fmt: skip
    bert.save_pretrained(tmp_path / "bert")
    vit.save_pretrained(tmp_path / "vit")
    sizes = EncoderSizes()
    t, v = build_text_encoder(str(tmp_path / "bert"), sizes), build_image_encoder(str(tmp_path / "vit"), sizes)
    torch.testing.assert_close(t.embeddings.word_embeddings.weight, bert.embeddings.word_embeddings.weight)
    torch.testing.assert_close(v.embeddings.patch_embeddings.projection.weight,
                               vit.embeddings.patch_embeddings.projection.weight)  # fmt: skip


def test_full_pipeline_with_saved_models_on_mmsd2(tmp_path) -> None:
    """mmsd2 fixture + saved tokenizer/BERT/ViT/CLIP through the CLI flags a user would give with hub names."""
    from clfa.cli import main
    from paperkit.testing import run_cli, tiny_trainer_args

    write_mmsd2(tmp_path / "mmsd2", {s: mmsd2_rows(6, 10 * k) for k, s in enumerate(("train", "valid", "test"))})
    tok = save_tiny_bert_tokenizer(tmp_path / "bert")
    BertModel(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(tmp_path / "bert")  # fmt: skip
    ViTModel(ViTConfig(image_size=32, patch_size=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32)).save_pretrained(tmp_path / "vit")  # fmt: skip
    clip = save_tiny_clip(tmp_path / "clip", proj_dim=8)
    args = ["train", "--data.dataset=mmsd2", f"--data.root={tmp_path / 'mmsd2'}", f"--data.tokenizer={tok}",
            "--data.teacher=hf", f"--data.teacher_model={clip}", f"--model.text_encoder={tmp_path / 'bert'}",
            f"--model.image_encoder={tmp_path / 'vit'}", "--model.proj_dim=8", "--data.batch_size=3",
            *tiny_trainer_args()]  # fmt: skip
    run = run_cli(main, args, tmp_path, "clfa")
    assert (run / "test_metrics.json").is_file()
    assert any((tmp_path / "mmsd2" / "clfa_teacher_cache").glob("mmsd2-train-*.pt"))


def test_proj_dim_must_match_the_teacher(tmp_path) -> None:
    from clfa.cli import main
    from paperkit.testing import run_cli

    args = ["fit", "--trainer.fast_dev_run=true", "--model.proj_dim=16", "--data.synthetic.n_train=16",
            "--data.synthetic.n_valid=8", "--data.synthetic.n_test=8"]  # fmt: skip
    with pytest.raises(ValueError, match="proj_dim"):
        run_cli(main, args, tmp_path)


def test_open_clip_teacher_from_a_local_checkpoint(tmp_path) -> None:
    """A tiny open_clip model (custom config) saved to a file, loaded as 'open_clip:<arch>/<checkpoint path>'."""
    import json

    import open_clip

    from clfa.data import ImageReader

    cfg = {"embed_dim": 8, "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 16,
                                          "head_width": 8},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}  # fmt: skip
    (tmp_path / "clfa-tiny-test.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path / "clfa-tiny-test.json")
    torch.manual_seed(0)
    model = open_clip.create_model("clfa-tiny-test").eval()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    write_mmsd2(tmp_path / "mmsd2", {"train": mmsd2_rows(3)})
    ex = load_mmsd2(tmp_path / "mmsd2", "train")
    spec = f"open_clip:clfa-tiny-test/{tmp_path / 'weights.pt'}"
    text, image = teacher_embeddings(spec, ex, ImageReader(32), tmp_path / "cache", "t")
    assert text.shape == (3, 8) and image.shape == (3, 8)
    with torch.no_grad():
        expected = model.encode_text(open_clip.get_tokenizer("clfa-tiny-test")([ex[0].text.lower().strip()]))
    torch.testing.assert_close(text[:1], expected)
