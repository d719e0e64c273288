"""Model decisions for concurrent requests, made in one inference.

Under load many players' reports arrive in the same turn of the event loop. Each asks the
batcher for its decision and waits; the first one schedules a flush at the end of the turn, and
the flush encodes every waiting state (one `encode` per video) and runs the model once for all
of them. One onnxruntime call costs about as much for 16 rows as for one, so this divides the
model's share of a request by the batch size; alone, a request waits one loop turn, no more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from abr.media.video import Video
from abr.player.ladder_observation import LadderSpec, decided_view
from abr.player.observation import encode
from abr.player.state import PlayerState, stack_states
from abr.policies.model_meta import ModelError
from abr.policies.onnx import OnnxModel, greedy_rungs
from service.log import INFERENCE_FAILED, log


@dataclass
class _Waiting:
    state: PlayerState  # one session, copied when the report was recorded
    video: Video
    answer: asyncio.Future[tuple[int, str] | None]  # (level, model version)


class ModelBatcher:
    def __init__(self, current_model: Callable[[], OnnxModel | None]) -> None:
        self.current_model = current_model  # read once per flush: a reload never splits a batch
        self.waiting: list[_Waiting] = []
        self.batch_sizes: list[int] = []  # the last flushes' sizes, for tests and benchmarks

    async def level(self, state: PlayerState, video: Video) -> tuple[int, str] | None:
        """The model's level for one session's state, and the model's version; None when the
        model cannot answer."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[int, str] | None] = loop.create_future()
        self.waiting.append(_Waiting(state, video, answer))
        if len(self.waiting) == 1:
            loop.call_soon(self._flush)
        return await answer

    def _flush(self) -> None:
        waiting, self.waiting = self.waiting, []
        self.batch_sizes = [*self.batch_sizes[-99:], len(waiting)]
        try:
            answers = self._levels(waiting)
        except Exception as exc:  # any inference failure: every caller falls back, and is counted
            log.warning(
                "%s: %r; the fallback answered %d decisions", INFERENCE_FAILED, exc, len(waiting)
            )
            answers = [None] * len(waiting)
        for item, answer in zip(waiting, answers, strict=True):
            if not item.answer.done():  # a caller that went away no longer waits
                item.answer.set_result(answer)

    def _levels(self, waiting: list[_Waiting]) -> list[tuple[int, str] | None]:
        """One inference for every waiting state whose video the model can play; None for the
        others (those sessions alone fall back)."""
        model = self.current_model()
        if model is None:
            raise RuntimeError("no model loaded")
        by_video: dict[int, list[int]] = {}
        for i, item in enumerate(waiting):
            by_video.setdefault(id(item.video), []).append(i)
        spec, version = model.metadata.obs_spec, model.metadata.version
        answers: list[tuple[int, str] | None] = [None] * len(waiting)
        blocks: list[tuple[list[int], np.ndarray, np.ndarray]] = []  # rows, obs, their levels
        for rows in by_video.values():
            video = waiting[rows[0]].video
            try:
                model.metadata.check_video(video.bitrates_kbps, str(model.path))
            except ModelError:
                continue
            if video.n_levels == 1:  # the only choice
                for i in rows:
                    answers[i] = (0, version)
                continue
            state = stack_states([waiting[i].state for i in rows])
            levels = np.arange(video.n_levels)
            if isinstance(spec, LadderSpec):
                state, levels = decided_view(state, spec)
            blocks.append((rows, encode(state, spec), levels))
        if not blocks:
            return answers
        q_values = model.q_values(np.concatenate([obs for _, obs, _ in blocks]))
        start = 0
        for rows, _, levels in blocks:
            block_q = q_values[start : start + len(rows)]
            start += len(rows)
            for i, level in zip(rows, levels[greedy_rungs(block_q, len(levels))], strict=True):
                answers[i] = (int(level), version)
        return answers
