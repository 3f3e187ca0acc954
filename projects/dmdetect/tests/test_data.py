"""Synthetic world, users' folders and ELSA D3 shards (fixtures in the official formats), CLIP loading and caching."""

from __future__ import annotations

import pytest
import torch

from dmdetect import encoders
from dmdetect.data import DMDetectDataModule
from dmdetect.encoders import ClipEncoder, Item, encode_items
from dmdetect.images import ImageLoader, elsa_items, elsa_shards, folder_items, predict_items
from dmdetect.synthetic import SyntheticWorld, make_split
from paperkit.errors import DataFormatError, DataNotFoundError

from .helpers import elsa_rows, save_tiny_open_clip, write_elsa, write_folder


def test_synthetic_shapes_determinism_and_ratio() -> None:
    w = SyntheticWorld(dim=16)
    a, b = make_split(w, 50, 1, [0, 1, 2, 3]), make_split(w, 50, 1, [0, 1, 2, 3])
    assert a["image"].shape == (250, 16) and a["text"].shape == (250, 16)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert int((a["label"] == 0).sum()) == 50 and set(a["generator"].tolist()) == {-1, 0, 1, 2, 3}
    c = make_split(w, 50, 1, [4], real_every=5)
    assert int((c["label"] == 0).sum()) == 10 and set(c["generator"].tolist()) == {-1, 4}
    assert not torch.equal(make_split(w, 50, 2, [0])["image"], make_split(w, 50, 1, [0])["image"])


def test_synthetic_text_shortcut_option_and_its_control() -> None:
    """The default world gives reals and fakes the same caption, so the control changes nothing; the text-shortcut
    option changes only the fakes' text (by prompt_shift * v), and the control then gives each real that prompt."""
    w, gens = SyntheticWorld(dim=16), [0, 1, 2, 3]
    base = make_split(w, 40, 1, gens)
    assert all(torch.equal(base[k], make_split(w, 40, 1, gens, real_caption="fake_prompt")[k]) for k in base)
    shift = make_split(w, 40, 1, gens, prompt_shift=0.5)
    ctl = make_split(w, 40, 1, gens, prompt_shift=0.5, real_caption="fake_prompt")
    real, fake = base["label"] == 0, base["label"] == 1
    for k in ("image", "label", "generator"):
        assert torch.equal(shift[k], base[k]) and torch.equal(ctl[k], base[k])
    v = torch.from_numpy(w.prompt_direction()).float()
    torch.testing.assert_close(shift["text"][fake], base["text"][fake] + 0.5 * v)
    assert torch.equal(shift["text"][real], base["text"][real])
    # the control: each real (record r) carries the prompt of record r's fakes, so text no longer tells the classes
    prompts = shift["text"][fake].reshape(len(gens), 40, 16)
    assert torch.equal(ctl["text"][real], prompts[0]) and torch.equal(ctl["text"][fake], shift["text"][fake])
    dm = DMDetectDataModule(synthetic_dim=16, synthetic_records=40, synthetic_val_records=20, synthetic_test_records=20,
                            synthetic_prompt_shift=0.5, real_caption="fake_prompt")  # fmt: skip
    dm.setup("fit")
    assert torch.equal(dm.splits["train"]["text"], ctl["text"])


def test_synthetic_signal_needs_the_caption() -> None:
    """How far an image is from what its caption predicts (a least-squares map, fitted on training data) separates
    the classes; the image alone (its norm) much less."""
    from torchmetrics.functional.classification import binary_auroc

    w = SyntheticWorld()
    tr, te = make_split(w, 600, 1, [0, 1, 2, 3]), make_split(w, 300, 3, [0, 1, 2, 3])
    a = torch.linalg.lstsq(tr["text"], tr["image"]).solution  # (Dt, Di)
    fused = -(te["image"] - te["text"] @ a).pow(2).sum(1)
    image_only = -te["image"].pow(2).sum(1)
    auc_fused = float(binary_auroc(fused, te["label"].long()))
    auc_image = float(binary_auroc(image_only, te["label"].long()))
    assert auc_fused > 0.9 and auc_fused > auc_image + 0.1, (auc_fused, auc_image)


def test_datamodule_synthetic_ratio_and_heldout_generator() -> None:
    dm = DMDetectDataModule(synthetic_records=100, synthetic_val_records=50, synthetic_test_records=60,
                            real_to_fake="1:20", test_generators=["gen4"])  # fmt: skip
    dm.setup("fit")
    tr, te = dm.splits["train"], dm.splits["test"]
    assert int((tr["label"] == 0).sum()) == 20 and int((tr["label"] == 1).sum()) == 400
    assert set(te["generator"].tolist()) == {-1, 4} and 4 not in tr["generator"].tolist()
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"image", "text", "label", "generator"} and batch["image"].shape[1] == 64


def test_folder_layout_captions_and_a_broken_image(tmp_path) -> None:
    root = write_folder(tmp_path / "d", broken=True)
    items = folder_items(root)
    by_id = {it.id: it for it in items}
    assert by_id["real/r0.png"].caption == "a photo number 0" and by_id["real/r0.png"].label == 0
    assert by_id["fake/if/f3.png"].caption == ""  # the last row is left out of captions.csv: empty caption
    assert {it.generator for it in items if it.label == 1} == {"if", "sdxl"}
    loader = ImageLoader()
    imgs = [loader(it) for it in items]
    assert loader.failed == ["real/broken.jpg"] and sum(im is None for im in imgs) == 1
    with pytest.raises(DataNotFoundError, match="real/"):
        folder_items(tmp_path / "nothing")


def test_folder_datamodule_encodes_once_and_caches(tmp_path, monkeypatch) -> None:
    root = write_folder(tmp_path / "d", n_real=10, gens={"a": 5, "b": 5}, broken=True)
    calls = []
    real_init = ClipEncoder.__init__
    monkeypatch.setattr(ClipEncoder, "__init__", lambda self, *a, **k: (calls.append(a), real_init(self, *a, **k))[1])
    kw = {"dataset": "folder", "root": str(root), "cache_dir": str(tmp_path / "cache"), "batch_size": 4,
          "val_fraction": 0.2, "test_fraction": 0.3, "robustness": ["jpeg:50", "blur:1.5"]}  # fmt: skip
    dm = DMDetectDataModule(**kw)
    dm.setup("fit")
    n = sum(len(dm.splits[s]["label"]) for s in ("train", "val", "test"))
    assert n == 20  # 21 files, the broken one skipped
    assert dm.image_dim == 32 and dm.splits["train"]["image"].shape[1] == 32  # the shipped tiny CLIP
    assert len(dm.test_sets) == 3 and not torch.equal(dm.test_sets[0]["image"], dm.test_sets[1]["image"])
    first = len(calls)
    dm2 = DMDetectDataModule(**kw)
    dm2.setup("fit")
    assert len(calls) == first, "features were recomputed although nothing changed"
    torch.testing.assert_close(dm2.splits["train"]["image"], dm.splits["train"]["image"])
    (root / "real" / "r0.png").write_bytes((root / "real" / "r2.png").read_bytes())  # edited image: new key
    DMDetectDataModule(**kw).setup("fit")
    assert len(calls) > first


def test_open_clip_checkpoint_loads_through_the_hub_name_path(tmp_path) -> None:
    name, ckpt, model = save_tiny_open_clip(tmp_path / "clip")
    root = write_folder(tmp_path / "d", n_real=2, gens={"a": 2})
    items = folder_items(root)
    feats = encode_items(items, ImageLoader(), name, str(ckpt), tmp_path / "cache", "t")
    assert feats["image"].shape == (4, 8) and bool(feats["ok"].all())
    import open_clip

    _, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(ckpt))
    with torch.no_grad():
        im = ImageLoader()(items[0])
        exp_img = model.encode_image(preprocess(im)[None])
        exp_txt = model.encode_text(open_clip.get_tokenizer(name)([items[0].caption]))
    torch.testing.assert_close(feats["image"][:1], exp_img)
    torch.testing.assert_close(feats["text"][:1], exp_txt)
    assert encoders.embed_dim(name) == 8


def test_elsa_d3_shards_reals_and_captions(tmp_path) -> None:
    root = write_elsa(tmp_path / "d3", {"train": elsa_rows(3), "validation": elsa_rows(2, start=3)})
    (root / "reals" / "000001.jpg").unlink()  # a real that could not be downloaded
    [shard] = elsa_shards(root, "train")
    items, no_real = elsa_items(root, shard)
    assert no_real == 1 and len(items) == 2 + 12
    real = next(it for it in items if it.id == "000000/real")
    fake = next(it for it in items if it.id == "000000/gen2")
    assert real.caption == "laion caption 0" and real.label == 0
    assert fake.caption == "prompt 0" and fake.generator == "stable-diffusion-xl" and isinstance(fake.image, bytes)
    assert ImageLoader()(fake).size == (40, 32)
    items_ctl, _ = elsa_items(root, shard, real_caption="fake_prompt")
    assert next(it for it in items_ctl if it.id == "000000/real").caption == "prompt 0"
    (root / "reals" / "000001.jpg").write_bytes((root / "reals" / "000000.jpg").read_bytes())
    dm = DMDetectDataModule(dataset="elsa_d3", root=str(root), cache_dir=str(tmp_path / "c"), val_fraction=0.34)
    dm.setup("fit")
    assert len(dm.splits["test"]["label"]) == 10 and dm.generator_names[0] == "IF"


def test_elsa_d3_bad_inputs_are_one_paragraph_errors(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match="train-"):
        elsa_shards(tmp_path, "train")
    root = write_elsa(tmp_path / "d3", {"train": elsa_rows(2)}, drop="positive_prompt")
    with pytest.raises(DataFormatError, match=r"train-00000-of-00001.parquet.*positive_prompt"):
        elsa_items(root, elsa_shards(root, "train")[0])
    (root / "data" / "train-00000-of-00001.parquet").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="not a parquet file"):
        elsa_items(root, elsa_shards(root, "train")[0])


def test_empty_class_is_an_error(tmp_path) -> None:
    root = write_folder(tmp_path / "d", n_real=4, gens={"a": 0})
    with pytest.raises(DataFormatError, match="no fake"):
        folder_items(root)


def test_predict_items(tmp_path) -> None:
    root = write_folder(tmp_path / "d", n_real=2, gens={"a": 1})
    assert [it.caption for it in predict_items(root / "real" / "r0.png", "x")] == ["x"]
    assert len(predict_items(root, None)) == 3
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(DataFormatError, match=r"bad\.png"):
        predict_items(bad, None)
    assert Item("a", b"", "", 1, "g").digest()
