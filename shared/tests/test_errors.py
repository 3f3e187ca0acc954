"""paperkit.errors: rendered trees and the one-paragraph messages users see."""

from __future__ import annotations

import pytest

from paperkit.errors import DataFormatError, DataNotFoundError, PaperkitError, render_tree, run_script


def test_render_tree_nested_layout() -> None:
    tree = {"A01T.mat": None, "s1": {"x.npy": None, "frames": ["a.jpg", "b.jpg"]}, "kg.txt": None}
    assert render_tree(tree, root="data/") == "\n".join(
        [
            "data/",
            "├── A01T.mat",
            "├── s1/",
            "│   ├── x.npy",
            "│   └── frames/",
            "│       ├── a.jpg",
            "│       └── b.jpg",
            "└── kg.txt",
        ]
    )


def test_render_tree_from_list() -> None:
    assert render_tree(["a", "b"], root="r") == "r/\n├── a\n└── b"


def test_data_not_found_message_names_everything() -> None:
    err = DataNotFoundError(
        "bnci2014_001",
        "/data/bnci",
        missing=[f"A0{i}T.mat" for i in range(1, 8)],
        expected={"A01T.mat": None, "A01E.mat": None},
        source="http://bnci-horizon-2020.eu/database/data-sets",
        hint="Or pass --data.root.",
    )
    msg = str(err)
    assert msg.startswith("Dataset 'bnci2014_001' not found under '/data/bnci'.")
    assert "A01T.mat, A02T.mat, A03T.mat, A04T.mat, A05T.mat (and 2 more)" in msg
    assert "/data/bnci/\n├── A01T.mat\n└── A01E.mat" in msg
    assert "Download it from http://bnci-horizon-2020.eu/database/data-sets." in msg
    assert msg.endswith("Or pass --data.root.")
    assert isinstance(err, PaperkitError) and isinstance(err, FileNotFoundError)
    assert err.exit_code == 2


def test_data_format_error_message() -> None:
    err = DataFormatError("x/A01T.mat", "22 EEG channels expected, found 3", expected="25 columns", source="bnci")
    assert str(err) == (
        "Cannot read 'x/A01T.mat': 22 EEG channels expected, found 3. Expected 25 columns."
        " The official files are at bnci."
    )
    assert isinstance(err, ValueError)


def test_run_script_ends_a_paperkit_error_as_one_paragraph_and_exit_2(capsys, tmp_path) -> None:
    def main() -> None:
        raise DataFormatError(tmp_path / "x.npy", "has shape (2, 3)", expected="(25, 256, 256)")

    with pytest.raises(SystemExit) as exit_:
        run_script(main)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "x.npy" in err and "Traceback" not in err
    run_script(lambda: None)  # no error: returns normally
