"""``kamcl recommend``: top-K per user from a trained checkpoint, training items excluded, unknown users refused."""

import csv

import pytest

from kamcl.cli import main
from kamcl.data import KAMCLDataModule
from paperkit.testing import run_cli, tiny_trainer_args

SMALL = ["--data.synthetic_users=100", "--data.synthetic_items=150", "--model.dim=8"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("rec")
    run = run_cli(main, ["train", *SMALL, *tiny_trainer_args()], root, "kamcl")
    return root, next((run / "checkpoints").glob("last.ckpt"))


def test_recommend_all_users_and_a_list(trained, monkeypatch) -> None:
    root, ckpt = trained
    monkeypatch.chdir(root)
    out = root / "rec_all.csv"
    main(["recommend", f"--ckpt_path={ckpt}", "--k", "3", "--out", str(out), *SMALL])
    rows = list(csv.DictReader(out.open()))
    assert {r["user"] for r in rows} == {str(u) for u in range(100)} and len(rows) == 3 * 100
    dm = KAMCLDataModule(synthetic_users=100, synthetic_items=150)
    seen = dm.mask_for("predict")
    assert not any(seen[int(r["user"]), int(r["item"])] for r in rows)  # nothing the user already interacted with
    first = [r for r in rows if r["user"] == "0"]
    assert [r["rank"] for r in first] == ["1", "2", "3"]
    assert float(first[0]["score"]) >= float(first[1]["score"]) >= float(first[2]["score"])
    users = root / "users.csv"
    users.write_text("user\n5\n7\n")
    out2 = root / "rec_two.csv"
    main(["recommend", f"--ckpt_path={ckpt}", "--k", "2", "--users", str(users), "--out", str(out2), *SMALL])
    assert [r["user"] for r in csv.DictReader(out2.open())] == ["5", "5", "7", "7"]


def test_recommend_unknown_user_is_one_paragraph(trained, monkeypatch, capsys) -> None:
    root, ckpt = trained
    monkeypatch.chdir(root)
    users = root / "bad_users.csv"
    users.write_text("3\n999\n")
    with pytest.raises(SystemExit) as exc:
        main(["recommend", f"--ckpt_path={ckpt}", "--users", str(users), *SMALL])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "'999' is not a user" in err and "Traceback" not in err
