"""Decisions for the service: the model with its fallback, sessions' chunk reports, and the
stateless forms. Torch-free. A trace replayed chunk by chunk through the API gets the levels
`abr bench` gives (tested for every policy).

Requests are checked completely before anything is changed, so a rejected request never alters a
session. Inference errors do not reach the client: the fallback policy answers and it is counted.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abr.media.video import Video, VideoError, make_video, nominal_video
from abr.player.state import PlayerState, player_state
from abr.policies.base import Policy
from abr.policies.model_meta import ModelError
from abr.policies.mpc import RobustMpc, plans_per_decision, robust_mpc_from_history
from abr.policies.onnx import OnnxModel, default_model_path
from abr.policies.registry import BASELINES, POLICIES, make_policy
from abr.units import throughput_kbps
from service.batcher import ModelBatcher
from service.codec import decode_session
from service.errors import InvalidField, OutOfOrder, TooLarge, Unavailable
from service.log import INFERENCE_FAILED, log
from service.schemas import MAX_KBPS, ColumnsDecideRequest, PlayerHistory, VideoSpec
from service.sessions import FIRST_LEVEL, HISTORY_LEN, PlayerSession, Report
from service.settings import ServiceSettings

# the service's policies: the loaded model, and the classic baselines by their registry names
POLICY_DESCRIPTIONS = {
    "dqn": "the loaded DQN model (ONNX); the fallback policy answers if it cannot",
    **{name: POLICIES[name].description for name in BASELINES},
}


@dataclass
class Choice:
    levels: np.ndarray  # [N] int64
    policy: str
    model_version: str | None = None
    fallback: bool = False


@dataclass(frozen=True)
class LoadedModel:
    model: OnnxModel
    path: Path  # the file it was read from
    digest: str  # SHA-256 of its bytes: the identity every process checks
    snapshot: Path | None  # a private copy for the decision workers (None without workers)

    @property
    def served(self) -> ServedModel:
        assert self.snapshot is not None
        return ServedModel(str(self.snapshot), self.digest)


@dataclass(frozen=True)
class ServedModel:
    """What a decision worker needs to decide with the server's model: a private copy of its
    bytes (so that replacing or deleting the user's file changes nothing) and their digest."""

    snapshot: str
    digest: str


class Engine:
    """The loaded model, the fallback, and every decision the service makes."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.model: OnnxModel | None = None
        self.model_error: str | None = None
        self.configured_path: Path = settings.model_path or default_model_path()
        self.model_path: Path = self.configured_path  # the model serving now
        self.model_dir = (settings.model_dir or self.configured_path.parent).resolve()
        self.loaded: LoadedModel | None = None
        self.fallback_name = settings.fallback_policy
        self.batcher = ModelBatcher(lambda: self.model)
        self.videos = AcceptedVideos()
        self._snapshots = (
            Path(tempfile.mkdtemp(prefix="abr-models-")) if settings.decision_workers else None
        )
        try:
            self.swap(self.load(self.configured_path))
        except ModelError as exc:
            self.model_error = str(exc)
            log.warning(
                "model not loaded: %s; %s answers until a reload succeeds", exc, self.fallback_name
            )

    # ---------------------------------------------------------------- model
    @property
    def model_version(self) -> str | None:
        return self.model.metadata.version if self.model is not None else None

    @property
    def served(self) -> ServedModel | None:
        """The model the decision workers must decide with (None: the fallback answers)."""
        return self.loaded.served if self.loaded is not None else None

    def load_requested(self, path: str | None) -> LoadedModel:
        """The model an admin's reload names: the configured one, or a file in the model folder
        (`ABR_MODEL_DIR`; a relative path is taken in it). Anything else is refused before it is
        looked at, with one answer whether it exists or not. Touches no state: run it off the
        event loop, then `swap`."""
        if not path:
            return self.load(self.configured_path)
        candidate = (self.model_dir / path).resolve()
        if not candidate.is_relative_to(self.model_dir):
            raise ModelError(f"{path[:200]}: outside the model folder (ABR_MODEL_DIR)")
        return self.load(candidate)

    def load(self, path: Path) -> LoadedModel:
        """Read and check the model at `path` (at most `max_model_bytes`), without using it."""
        limit = self.settings.max_model_bytes
        try:
            with path.open("rb") as file:
                data = file.read(limit + 1)
        except OSError as exc:
            reason = "no such model file" if isinstance(exc, FileNotFoundError) else exc.strerror
            raise ModelError(f"{str(path)[:200]}: {reason}") from None
        if len(data) > limit:
            raise ModelError(f"{path}: larger than ABR_MAX_MODEL_BYTES ({limit} bytes)")
        model = OnnxModel(path, threads=self.settings.onnx_threads, data=data)
        digest = hashlib.sha256(data).hexdigest()
        snapshot = None
        if self._snapshots is not None:
            snapshot = self._snapshots / f"{digest}.onnx"
            snapshot.write_bytes(data)
        return LoadedModel(model, path, digest, snapshot)

    def swap(self, loaded: LoadedModel) -> None:
        """Serve `loaded` from now on (one assignment each: a decision sees one model)."""
        previous = self.loaded
        self.loaded, self.model, self.model_path = loaded, loaded.model, loaded.path
        self.model_error = None
        old_snapshot = previous.snapshot if previous is not None else None
        if old_snapshot is not None and old_snapshot != loaded.snapshot:
            old_snapshot.unlink(missing_ok=True)
        log.info("serving %s (version %s)", loaded.path, loaded.model.metadata.version)

    def follow(self, served: ServedModel | None) -> None:
        """In a decision worker: decide with the model the server serves now, or with none
        (the fallback); a 503 rather than an answer from another model."""
        if served is None:
            self.loaded = self.model = None
            return
        if self.loaded is not None and self.loaded.digest == served.digest:
            return
        try:
            loaded = self.load(Path(served.snapshot))
        except ModelError as exc:
            log.warning("decision worker: %s", exc)
            loaded = None
        if loaded is None or loaded.digest != served.digest:
            raise Unavailable("", "the decision worker could not load the model served; retry")
        self.swap(loaded)

    def close(self) -> None:
        if self._snapshots is not None:
            shutil.rmtree(self._snapshots, ignore_errors=True)

    # ---------------------------------------------------------------- videos
    def video(self, spec: VideoSpec) -> Video:
        limits = self.settings
        if len(spec.ladder_kbps) > limits.max_levels:
            raise InvalidField("ladder_kbps", f"more than {limits.max_levels} levels")
        if spec.n_chunks > limits.max_chunks:
            raise InvalidField("n_chunks", f"more than {limits.max_chunks}")
        if spec.chunk_sizes_bytes is None:
            key = (tuple(spec.ladder_kbps), spec.chunk_s, spec.n_chunks)
            known = self.videos.get(key)
            if known is not None:
                return known
            try:
                return nominal_video(*key, name="session")
            except VideoError as exc:
                raise InvalidField("ladder_kbps", exc.reason) from None
        sizes = spec.chunk_sizes_bytes
        if len(sizes) != len(spec.ladder_kbps) or any(len(r) != spec.n_chunks for r in sizes):
            raise InvalidField(
                "chunk_sizes_bytes",
                f"must be [{len(spec.ladder_kbps)} levels][{spec.n_chunks} chunks]",
            )
        try:
            return make_video(spec.ladder_kbps, spec.chunk_s, sizes, "session")
        except VideoError as exc:
            raise InvalidField("ladder_kbps", exc.reason) from None

    # ---------------------------------------------------------------- sessions
    def new_session(self, spec: VideoSpec, policy: str, qoe: str) -> tuple[PlayerSession, Choice]:
        video = self.video(spec)
        if policy == "dqn" and self.model is not None:
            self._check_model_ladder(video)
        baseline = None if policy == "dqn" else _new_policy(policy, 1, video)
        session = PlayerSession(secrets.token_urlsafe(12), policy, qoe, video, baseline)
        self.videos.remember(video)
        first = min(FIRST_LEVEL, video.n_levels - 1)
        session.last_level = first
        version = self.model_version if policy == "dqn" else None
        return session, Choice(np.array([first]), policy, version)  # the protocol's first level

    def session_from_bytes(self, data: bytes) -> PlayerSession:
        """A session a shared store kept (service/codec.py), with this process's videos."""
        return decode_session(data, self._nominal, _policy_for, self.fallback_name)

    def _nominal(self, ladder: tuple[float, ...], chunk_s: float, n_chunks: int) -> Video:
        key = (ladder, chunk_s, n_chunks)
        video = self.videos.get(key)
        if video is None:
            video = nominal_video(*key, name="session")
            self.videos.remember(video)
        return video

    def answered_before(self, session: PlayerSession, report: Report) -> dict[str, Any] | None:
        """The answer an identical retry of the last applied report gets again; None for a
        report about the chunk the session expects. A different report for a chunk already
        applied is refused, naming the index."""
        if report == session.last_report:
            if session.last_answer is None:  # its decision is still being made
                raise OutOfOrder("index", f"chunk {report[0]} is being applied; retry")
            return session.last_answer
        index = report[0]
        if index < session.next_index:
            last = session.last_report
            differs = " with other values" if last is not None and last[0] == index else ""
            raise OutOfOrder(
                "index",
                f"chunk {index} was already applied{differs}; the session expects chunk "
                f"{session.next_index}",
            )
        return None

    def check_report(self, session: PlayerSession, report: Report) -> None:
        index, level, size_bytes, download_s = report[:4]
        if session.done:
            raise OutOfOrder("index", "the session has already reported its last chunk")
        if index != session.next_index:
            raise OutOfOrder("index", f"expected chunk {session.next_index}, got {index}")
        if level >= session.video.n_levels:
            raise InvalidField(
                "level", f"{level} is outside the ladder (0..{session.video.n_levels - 1})"
            )
        # each within its bounds, together they can still make an infinite throughput
        if throughput_kbps(size_bytes, download_s) > MAX_KBPS:
            raise InvalidField(
                "download_s", f"{size_bytes:g} bytes in {download_s:g} s is over {MAX_KBPS:g} kbps"
            )

    async def apply_report(self, session: PlayerSession, report: Report) -> Choice | None:
        """Record a checked report (see `check_report`); the next decision, or None when done.

        The report is recorded before the first wait, and the decision is made on a copy of the
        session's state taken then, so that requests served meanwhile cannot interleave."""
        _, level, size_bytes, download_s, buffer_s, rebuffer_s = report
        session.last_report, session.last_answer = report, None
        _push(session.throughput_kbps, throughput_kbps(size_bytes, download_s))
        _push(session.download_s, download_s)
        session.history_count = min(session.history_count + 1, HISTORY_LEN)
        session.last_level, session.buffer_s = level, buffer_s
        session.levels.append(level)
        session.rebuffer_s.append(rebuffer_s)
        session.next_index += 1
        if session.done:
            return None
        choice = await self._decide_session(session)
        session.fallbacks += int(choice.fallback)
        return choice

    async def _decide_session(self, session: PlayerSession) -> Choice:
        state = session.player_state()
        if session.policy is not None:
            return Choice(session.policy.act(state), session.policy_name)
        answer = await self.batcher.level(state, session.video)  # with concurrent requests
        if answer is not None:
            level, version = answer
            return Choice(np.array([level]), "dqn", version)
        if session.fallback_policy is None:  # a fresh one: its state starts here
            session.fallback_policy = _new_policy(self.fallback_name, 1, session.video)
        return self._fallback(session.fallback_policy.act(state))

    def _model_choice(self, state: PlayerState, video: Video) -> Choice | None:
        model = self.model  # one reference: a reload in between cannot mix two models
        if model is None:
            return None
        try:
            model.metadata.check_video(video.bitrates_kbps, str(model.path))
            return Choice(model.levels(state), "dqn", model.metadata.version)
        except Exception as exc:  # any inference failure: the fallback answers, and it is counted
            log.warning("%s: %r; %s answered", INFERENCE_FAILED, exc, self.fallback_name)
            return None

    def _fallback(self, levels: np.ndarray) -> Choice:
        return Choice(levels, self.fallback_name, None, fallback=True)  # counted in /metrics

    def _check_model_ladder(self, video: Video) -> None:
        assert self.model is not None
        try:
            self.model.metadata.check_video(video.bitrates_kbps, "the loaded model")
        except ModelError as exc:
            raise InvalidField("ladder_kbps", str(exc)) from None

    # ---------------------------------------------------------------- stateless
    def decide_stateless(
        self, spec: VideoSpec, policy: str, players: Sequence[PlayerHistory]
    ) -> Choice:
        video = self._stateless_video(spec, policy, len(players), "players")
        choice = self._decide_state(self._history_state(players, video), video, policy)
        self.videos.remember(video)  # only once the request is accepted
        return choice

    def decide_columns(self, body: ColumnsDecideRequest) -> Choice:
        """The batch in columns: one array per field instead of one object per player."""
        n = len(body.chunk_index)
        video = self._stateless_video(body, body.policy, n, "chunk_index")
        choice = self._decide_state(self._columns_state(body, video), video, body.policy)
        self.videos.remember(video)
        return choice

    def _stateless_video(self, spec: VideoSpec, policy: str, n: int, field: str) -> Video:
        if n > self.settings.max_batch:
            raise TooLarge(field, f"more than {self.settings.max_batch} in one batch")
        if policy != "dqn" and not POLICIES[policy].stateless:
            raise InvalidField(
                "policy", f"{policy!r} keeps state between chunks; use /v1/sessions for it"
            )
        video = self.video(spec)
        self._check_batch_work(policy, n, video, field)
        if policy == "dqn" and self.model is not None:
            self._check_model_ladder(video)
        return video

    def _check_batch_work(self, policy: str, n: int, video: Video, field: str) -> None:
        """RobustMPC plans per player (its error memory is each player's own): a batch may ask
        for at most `max_batch_plans` level combinations in all. The fallback of a dqn batch
        counts too when it is RobustMPC."""
        planner = policy == "mpc" or (policy == "dqn" and self.fallback_name == "mpc")
        if not planner:
            return
        plans = plans_per_decision(RobustMpc().horizon, video.n_levels)
        budget = self.settings.max_batch_plans
        if n * plans > budget:
            raise TooLarge(
                field,
                f"{n} players x {plans} RobustMPC plans each is over the {budget} plans one "
                f"request may take: send at most {budget // plans} players per request",
            )

    def _decide_state(self, state: PlayerState, video: Video, policy: str) -> Choice:
        if policy == "mpc":  # its error memory is rebuilt from the history given
            return Choice(robust_mpc_from_history(state, video), policy)
        if policy != "dqn":
            return Choice(_new_policy(policy, state.n_sessions, video).act(state), policy)
        choice = self._model_choice(state, video)
        if choice is not None:
            return choice
        if self.fallback_name == "mpc":
            return self._fallback(robust_mpc_from_history(state, video))
        fallback = _new_policy(self.fallback_name, state.n_sessions, video)
        return self._fallback(fallback.act(state))

    def _history_state(self, players: Sequence[PlayerHistory], video: Video) -> PlayerState:
        """Players' own histories as one PlayerState (checked first, vectorised for batches)."""
        throughput = [p.throughput_kbps for p in players]
        delay = [p.download_s for p in players]
        counts = np.array([len(t) for t in throughput], dtype=np.int64)
        chunk = np.array([p.chunk_index for p in players], dtype=np.int64)
        last_level = np.array([p.last_level for p in players], dtype=np.int64)
        lengths_differ = counts != [len(d) for d in delay]
        self._check_histories(video, counts, lengths_differ, chunk, last_level, "players[{}].")
        n, width = len(players), max(HISTORY_LEN, int(counts.max()))
        if np.all(counts == width):  # the common case: one array, no padding
            throughput_kbps, download_s = _matrix(throughput, width), _matrix(delay, width)
        else:
            throughput_kbps, download_s = np.zeros((n, width)), np.zeros((n, width))
            for i, k in enumerate(counts.tolist()):
                throughput_kbps[i, width - k :] = throughput[i]
                download_s[i, width - k :] = delay[i]
        buffer_s = np.array([p.buffer_s for p in players])
        history_count = np.minimum(counts, width)
        return player_state(
            video, chunk, last_level, buffer_s, throughput_kbps, download_s, history_count
        )

    def _columns_state(self, body: ColumnsDecideRequest, video: Video) -> PlayerState:
        n = len(body.chunk_index)
        for name in ("last_level", "buffer_s", "throughput_kbps", "download_s"):
            if len(getattr(body, name)) != n:
                raise InvalidField(name, f"must have one entry per player ({n})")
        width = len(body.throughput_kbps[0])
        if any(len(row) != width for row in body.throughput_kbps):
            raise InvalidField(
                "throughput_kbps",
                "every player needs a history of the same length (send players of other "
                "lengths in another request)",
            )
        if any(len(row) != width for row in body.download_s):
            raise InvalidField(
                "download_s", f"every row must have {width} entries, as throughput_kbps"
            )
        throughput_kbps, download_s = (
            _matrix(body.throughput_kbps, width),
            _matrix(body.download_s, width),
        )
        chunk = np.array(body.chunk_index, dtype=np.int64)
        last_level = np.array(body.last_level, dtype=np.int64)
        counts = np.full(n, width, dtype=np.int64)
        self._check_histories(video, counts, np.zeros(n, bool), chunk, last_level, "player {}: ")
        if width < HISTORY_LEN:  # zeros before the first chunk, as the simulator keeps them
            pad = np.zeros((n, HISTORY_LEN - width))
            throughput_kbps = np.concatenate([pad, throughput_kbps], axis=1)
            download_s = np.concatenate([pad, download_s], axis=1)
        buffer_s = np.array(body.buffer_s)
        return player_state(video, chunk, last_level, buffer_s, throughput_kbps, download_s, counts)

    def _check_histories(
        self,
        video: Video,
        counts: np.ndarray,
        lengths_differ: np.ndarray,
        chunk: np.ndarray,
        last_level: np.ndarray,
        where: str,
    ) -> None:
        """The first bad player and field; `where` formats that player's index."""
        checks = (
            (lengths_differ, "download_s", "must have as many entries as throughput_kbps"),
            (
                counts > self.settings.max_history,
                "throughput_kbps",
                f"more than {self.settings.max_history} entries",
            ),
            (chunk >= video.n_chunks, "chunk_index", f"must be below n_chunks={video.n_chunks}"),
            (
                last_level >= video.n_levels,
                "last_level",
                f"outside the ladder (0..{video.n_levels - 1})",
            ),
        )
        for bad, name, message in checks:
            if bad.any():
                player = where.format(int(np.argmax(bad))) if len(counts) > 1 else ""
                raise InvalidField(player + name, message)


def _matrix(rows: list[list[float]], width: int) -> np.ndarray:
    """[n][width] lists as an [n, width] array (half the time of np.array on nested lists)."""
    flat = np.fromiter(itertools.chain.from_iterable(rows), float, count=len(rows) * width)
    return flat.reshape(len(rows), width)


# -------------------------------------------------------------------- helpers
def _push(history: np.ndarray, value: float) -> None:
    """Append to a most-recent-last history of fixed length, dropping the oldest."""
    history[:-1] = history[1:]
    history[-1] = value


class AcceptedVideos:
    """Videos without a size table that a request was accepted for, shared by every session
    and batch that plays the same ladder (so concurrent decisions encode them together). Each
    holds O(levels) memory (`nominal_video`); at most `capacity` are kept, least recently used
    out first. A rejected request never adds one."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._videos: OrderedDict[tuple[tuple[float, ...], float, int], Video] = OrderedDict()

    def get(self, key: tuple[tuple[float, ...], float, int]) -> Video | None:
        video = self._videos.get(key)
        if video is not None:
            self._videos.move_to_end(key)
        return video

    def remember(self, video: Video) -> None:
        if video.sizes_bytes.base is None:
            return  # a size table of its own: the session keeps it, the cache does not
        key = (tuple(video.bitrates_kbps.tolist()), video.chunk_s, video.n_chunks)
        self._videos[key] = video
        self._videos.move_to_end(key)
        while len(self._videos) > self.capacity:
            self._videos.popitem(last=False)

    def __len__(self) -> int:
        return len(self._videos)


def _policy_for(name: str, video: Video) -> Policy:
    return _new_policy(name, 1, video)


def _new_policy(name: str, n_sessions: int, video: Video) -> Policy:
    policy = make_policy(name)
    try:
        policy.reset(n_sessions, video)
    except ValueError as exc:  # e.g. BOLA on a one-level ladder
        raise InvalidField("ladder_kbps", f"policy {name!r} cannot play it ({exc})") from None
    return policy
