"""`abr traces split`: every k-th trace held out, the rest kept, files unchanged."""

from pathlib import Path

import pytest

from abr.media.split import set_name, split_folder
from abr.media.traces import TraceError
from tests.conftest import abr


def _folder(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "net" / "train"
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"t{i:02d}").write_text(f"0 {i + 1}\n1 {i + 1}\n")
    return folder


def test_every_kth_trace_is_held_out_in_sorted_order(tmp_path: Path) -> None:
    source = _folder(tmp_path, 25)
    val_dir, rest_dir = split_folder(source, 10, tmp_path / "out")
    assert (val_dir.name, rest_dir.name) == ("val_net", "rest_net")
    assert sorted(p.name for p in val_dir.iterdir()) == ["t00", "t10", "t20"]
    assert len(list(rest_dir.iterdir())) == 22
    assert (rest_dir / "t07").read_text() == (source / "t07").read_text()


def test_bad_splits_are_refused_with_the_reason(tmp_path: Path) -> None:
    source = _folder(tmp_path, 25)
    split_folder(source, 10, tmp_path / "out")
    with pytest.raises(ValueError, match="exists and is not empty"):
        split_folder(source, 10, tmp_path / "out")
    with pytest.raises(ValueError, match="at least 2"):
        split_folder(source, 1, tmp_path / "other")
    single = tmp_path / "one"
    single.mkdir()
    (single / "t").write_text("0 1\n1 1\n")
    with pytest.raises(TraceError, match="a split needs at least 2"):
        split_folder(single, 10, tmp_path / "other")


def test_the_set_is_named_after_the_folder_above_train_test_or_all(tmp_path: Path) -> None:
    assert set_name(tmp_path / "pensieve" / "train") == "pensieve"
    assert set_name(tmp_path / "ghent4g" / "all") == "ghent4g"
    assert set_name(tmp_path / "mine") == "mine"


def test_the_cli_splits_several_folders(tmp_path: Path) -> None:
    source = _folder(tmp_path, 12)
    abr("traces", "split", str(source), "--every", "5", "--out", str(tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "out" / "val_net").iterdir()) == ["t00", "t05", "t10"]
