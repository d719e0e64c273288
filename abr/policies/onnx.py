"""A exported Q-network as a batched policy, on onnxruntime alone (no torch on this path: the
service imports it). Greedy: the level with the largest Q-value."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.ladder_observation import LadderSpec, decide_over_kept_rungs
from abr.player.observation import encode
from abr.player.state import PlayerState
from abr.policies.model_meta import METADATA_KEY, ModelError, ModelMetadata


def default_model_path() -> Path:
    """The model shipped inside the package (docs/model-card.md says how it was made)."""
    return Path(str(resources.files("abr") / "data" / "default_model.onnx"))


def pick_providers(device: str = "auto") -> list[str]:
    """CUDA when asked for or (with `auto`) when onnxruntime-gpu sees a GPU; else the CPU."""
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise ModelError("device 'cuda' asked for, but onnxruntime has no CUDA provider here")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device != "auto":
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxModel:
    """An exported model, loaded and checked: metadata, input width, output width."""

    def __init__(
        self,
        path: str | Path | None = None,
        threads: int = 1,
        device: str = "auto",
        data: bytes | None = None,
    ):
        """The model in the file at `path`; or, given `data`, the model in those bytes (read
        from `path` before: the name errors give)."""
        self.path = Path(path) if path is not None else default_model_path()
        source = str(self.path)
        if data is None:
            try:
                is_file = self.path.is_file()
            except OSError as exc:  # e.g. a name too long for the file system
                raise ModelError(f"{source[:200]}: not a usable path ({exc.strerror})") from None
            if not is_file:
                raise ModelError(f"{source[:200]}: no such model file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                source if data is None else data, options, providers=pick_providers(device)
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelError(f"{source}: not a loadable ONNX model ({_first_line(exc)})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ModelError(f"{source}: no {METADATA_KEY!r} metadata (not exported by abr?)")
        self.metadata = ModelMetadata.from_json(meta[METADATA_KEY], source)
        self._check_graph(source)

    def _check_graph(self, source: str) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != ["obs"] or [o.name for o in outputs] != ["q"]:
            raise ModelError(f"{source}: graph must have one input 'obs' and one output 'q'")
        width, n_actions = inputs[0].shape[-1], outputs[0].shape[-1]
        spec = self.metadata.obs_spec
        if width != spec.dim:
            raise ModelError(
                f"{source}: graph input width {width} does not match the observation spec "
                f"({spec.version}, {spec.n_levels} levels, history {spec.history_len}: {spec.dim})"
            )
        if n_actions != spec.n_levels:
            raise ModelError(f"{source}: graph has {n_actions} outputs for {spec.n_levels} levels")

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """[B, D] float32 -> [B, A] float32."""
        return self.session.run(["q"], {"obs": np.ascontiguousarray(obs, dtype=np.float32)})[0]

    def levels(self, state: PlayerState) -> np.ndarray:
        """The greedy level for each session of `state`, [N] int64."""
        spec = self.metadata.obs_spec
        if isinstance(spec, LadderSpec):
            return decide_over_kept_rungs(state, spec, self._greedy)
        return self._greedy(state)

    def _greedy(self, state: PlayerState) -> np.ndarray:
        return greedy_rungs(self.q_values(encode(state, self.metadata.obs_spec)), state.n_levels)


def greedy_rungs(q_values: np.ndarray, n_rungs: int) -> np.ndarray:
    """The rung with the largest Q-value among the video's first `n_rungs`, [B] int64. A padded
    rung is masked in the graph; slicing keeps it out even when an input far outside the
    trained range drove every real rung's Q-value below the mask."""
    return q_values[:, :n_rungs].argmax(axis=1).astype(np.int64)


class OnnxPolicy:
    """`abr bench --policies onnx:PATH` (or `onnx` for the shipped model)."""

    def __init__(self, path: str | Path | None = None, threads: int | None = None):
        threads = threads or int(os.environ.get("ABR_ONNX_THREADS", "1"))
        self.model = OnnxModel(path, threads=threads)
        self.name = "onnx" if path is None else f"onnx:{path}"

    def reset(self, n_sessions: int, video: Video, traces: Sequence[Trace] | None = None) -> None:
        self.model.metadata.check_video(video.bitrates_kbps, str(self.model.path))

    def act(self, state: PlayerState) -> np.ndarray:
        return self.model.levels(state)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
