import math
import pickle
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from abr.dqn.checkpoint import (  # noqa: E402
    FORMAT,
    CheckpointError,
    RunState,
    load_payload,
    save_atomic,
)
from tests.conftest import abr  # noqa: E402


def test_a_payload_round_trips_with_its_format(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_atomic({"weights": torch.arange(3.0), "env_steps": 7}, path)
    payload = load_payload(path)
    assert payload["format"] == FORMAT and payload["env_steps"] == 7
    assert payload["weights"].tolist() == [0.0, 1.0, 2.0]
    assert not list(tmp_path.glob(".*.tmp"))  # renamed into place


def test_the_run_state_restores_itself_from_a_payload() -> None:
    state = RunState(env_steps=640, updates=12, best_val_qoe=0.5, seconds_to_beat_mpc=None)
    state.loss = 0.25
    restored = RunState.from_payload({"other": 1, **state.to_dict()})
    assert restored == state
    assert math.isinf(RunState().best_val_qoe)


def _broken_files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.pt"
    save_atomic({"env_steps": 1, "weights": torch.zeros(1000)}, good)
    files = {
        "empty": b"",
        "text": b"hello, this is not a checkpoint\n",
        "truncated": good.read_bytes()[: len(good.read_bytes()) // 2],
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.pt"
        paths[name].write_bytes(data)
    paths["pickled"] = tmp_path / "pickled.pt"
    torch.save(
        {"format": FORMAT, "object": pickle.loads(pickle.dumps(Path("x")))}, paths["pickled"]
    )
    paths["old_format"] = tmp_path / "old_format.pt"
    torch.save({"env_steps": 1}, paths["old_format"])
    return paths


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "pickled", "old_format"])
def test_a_broken_file_is_one_error_naming_it(tmp_path: Path, kind: str) -> None:
    path = _broken_files(tmp_path)[kind]
    with pytest.raises(CheckpointError, match=str(path)) as error:
        load_payload(path)
    assert "\n" not in str(error.value)
    if kind == "pickled":
        assert "pickled objects" in str(error.value)
    if kind == "old_format":
        assert "format none" in str(error.value)


def test_the_cli_reports_a_broken_checkpoint_in_one_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"")
    answer = abr("export", str(run), "--out", str(tmp_path / "m.onnx"), check=False)
    assert answer.returncode == 2
    assert "Traceback" not in answer.stderr
    assert str(run / "best.pt") in answer.stderr.replace("\n", "")


def test_resuming_from_a_truncated_checkpoint_is_one_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    save_atomic({"env_steps": 1, "weights": torch.zeros(1000)}, run / "checkpoint.pt")
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 3])
    answer = abr("train", "--resume", str(run), check=False)
    assert answer.returncode == 2 and "Traceback" not in answer.stderr
    assert f"{run / 'checkpoint.pt'}: not a readable checkpoint" in answer.stderr.replace("\n", "")
