"""MovieLens-100K with its KG (RecBole atomic files): behaviours from ratings, leave-last-out on likes, KG mapping,
errors; the datamodule on it masks every training item."""

from pathlib import Path

import pytest

from kamcl.data import KAMCLDataModule
from kamcl.datasets.movielens import load_movielens_kg
from paperkit.errors import DataFormatError, DataNotFoundError


def write_ml_fixture(root: Path) -> dict:
    """MovieLens-100K in RecBole's atomic format (ml-100k.inter / .kg / .link, tab-separated, typed headers), tiny:
    4 users x 6 items, 2 relations, item 6 without a KG link."""
    root.mkdir(parents=True, exist_ok=True)
    # user, item, rating, timestamp
    rows = [
        (1, 1, 5, 100), (1, 2, 4, 200), (1, 3, 2, 150), (1, 4, 3, 300), (1, 5, 4, 250),  # 1: likes 1, 2, 5; test 5
        (2, 2, 5, 10), (2, 3, 4, 20), (2, 6, 1, 5), (2, 1, 3, 30),  # 2: likes 2, 3; test 3; neutral 1 after it
        (3, 4, 4, 50), (3, 5, 2, 60),  # 3: one like: no test item
        (10, 6, 4, 7), (10, 1, 4, 7), (10, 2, 4, 9),  # 10: likes 6, 1 at t=7 and 2 at 9; test 2
    ]  # fmt: skip
    (root / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows)
    )
    link = {1: "m.a", 2: "m.b", 3: "m.c", 4: "m.d", 5: "m.e"}
    (root / "ml-100k.link").write_text(
        "item_id:token\tentity_id:token\n" + "".join(f"{i}\t{e}\n" for i, e in link.items())
    )
    kg = [("m.a", "film.film.genre", "m.drama"), ("m.b", "film.film.genre", "m.drama"), ("m.c", "film.film.genre",
          "m.comedy"), ("m.a", "film.film.sequel", "m.b"), ("m.d", "film.film.genre", "m.comedy"),
          ("m.a", "film.film.genre", "m.drama")]  # fmt: skip
    (root / "ml-100k.kg").write_text(
        "head_id:token\trelation_id:token\ttail_id:token\n" + "".join(f"{h}\t{r}\t{t}\n" for h, r, t in kg)
    )
    return {"rows": rows, "link": link, "kg": kg}


def test_behaviours_split_and_kg(tmp_path) -> None:
    write_ml_fixture(tmp_path)
    mats, test, kg, extra = load_movielens_kg(tmp_path)
    assert extra["user_ids"] == ["1", "2", "3", "10"] and extra["item_ids"] == ["1", "2", "3", "4", "5", "6"]
    like, neutral, dislike = (mats[b].toarray() for b in ("like", "neutral", "dislike"))
    # test = latest like (user 10: a tie at t=7 is before t=9); users with one like have none
    assert test.tolist() == [4, 2, -1, 1]
    assert like[0].nonzero()[0].tolist() == [0, 1] and like[3].nonzero()[0].tolist() == [0, 5]
    assert like[2].nonzero()[0].tolist() == [3]  # the only like stays in training
    assert dislike[0].nonzero()[0].tolist() == [2] and dislike[1].nonzero()[0].tolist() == [5]
    assert neutral[0].nonzero()[0].tolist() == [] and neutral[1].nonzero()[0].tolist() == []  # after the test time
    assert like[0, 0] == 100  # timestamps as values
    # KG: linked entities are the items; others follow from I = 6; relations sorted by name; duplicates dropped
    assert extra["relations"] == ["film.film.genre", "film.film.sequel"] and extra["n_entities"] == 8
    assert sorted(map(tuple, kg.tolist())) == [(0, 0, 7), (0, 1, 1), (1, 0, 7), (2, 0, 6), (3, 0, 6)]


def test_datamodule_masks_every_training_item(tmp_path) -> None:
    write_ml_fixture(tmp_path)
    dm = KAMCLDataModule(dataset="movielens_kg", root=str(tmp_path), n_sampled_negatives=1)
    assert dm.behaviours == ["dislike", "neutral", "like"] and dm.eval_mask == "all"
    dm.setup("fit")
    assert dm.n_entities == 8 and dm.n_relations == 2
    mask = dm.mask_for("val").toarray()
    assert mask[0].nonzero()[0].tolist() == [0, 2]  # user 1: like 1 (like 2 is validation), dislike 3
    assert dm.data.val_items.tolist() == [1, -1, -1, 5]  # user 10: a tie at t=7 -> the larger item id


def test_merged_positives(tmp_path) -> None:
    write_ml_fixture(tmp_path)
    target = KAMCLDataModule(dataset="movielens_kg", root=str(tmp_path))
    merged = KAMCLDataModule(dataset="movielens_kg", root=str(tmp_path), train_positives="merged")
    assert merged.train_pairs.nnz == target.train_seen.nnz > target.train_pairs.nnz == target.train_target.nnz


def test_missing_and_malformed_files(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match=r"ml-100k\.inter"):
        load_movielens_kg(tmp_path)
    write_ml_fixture(tmp_path)
    (tmp_path / "ml-100k.link").write_text("item\tentity\n1\tm.a\n")
    with pytest.raises(DataFormatError, match="item_id:token"):
        load_movielens_kg(tmp_path)
    write_ml_fixture(tmp_path)
    text = (tmp_path / "ml-100k.inter").read_text().replace("\t5\t100", "\tfive\t100")
    (tmp_path / "ml-100k.inter").write_text(text)
    with pytest.raises(DataFormatError, match="rating"):
        load_movielens_kg(tmp_path)
