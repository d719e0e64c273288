"""The HTTP API's request and response bodies (v1). Field limits live here so that every client
mistake is a 422 naming the field; limits that depend on settings are checked in `decisions`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from abr.media.video import ENVIVIO_BITRATES_KBPS, ENVIVIO_CHUNK_S, ENVIVIO_CHUNKS
from abr.player.qoe import QOE_NAMES

PolicyName = Literal["dqn", "bb", "rb", "bola", "mpc", "dynamic"]
QoeName = Literal[QOE_NAMES]  # type: ignore[valid-type]
# Bounds far beyond any real player keep every number finite through the arithmetic.
MAX_KBPS = 1e9
Kbps = Annotated[float, Field(gt=0, le=MAX_KBPS, allow_inf_nan=False)]
Seconds = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
SecondsOrZero = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
Bytes = Annotated[float, Field(gt=0, le=1e13, allow_inf_nan=False)]
MAX_INDEX = 10_000_000
MAX_LEVEL = 1_000

ENVIVIO_EXAMPLE: dict[str, Any] = {
    "ladder_kbps": list(ENVIVIO_BITRATES_KBPS),
    "chunk_s": ENVIVIO_CHUNK_S,
    "n_chunks": ENVIVIO_CHUNKS,
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StrictRequest(Strict):
    """A request body: JSON types as declared, no coercion ("0" and true are not numbers; a
    number may be written without a decimal point)."""

    model_config = ConfigDict(strict=True)


class VideoSpec(StrictRequest):
    ladder_kbps: list[Kbps] = Field(
        ..., min_length=1, description="bitrate of each level, strictly increasing, kbps"
    )
    chunk_s: Seconds = Field(..., ge=0.05, le=3600, description="duration of one chunk, seconds")
    n_chunks: int = Field(..., ge=1, le=MAX_INDEX, description="chunks in the video")
    chunk_sizes_bytes: list[list[Bytes]] | None = Field(
        None,
        description="[level][chunk] sizes in bytes; without them, ladder x chunk_s is assumed",
    )


class SessionStart(VideoSpec):
    policy: PolicyName = "dqn"
    qoe: QoeName = Field("lin", description="the QoE the session's summary is scored in")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**ENVIVIO_EXAMPLE, "policy": "dqn"}]}
    )


class Decision(Strict):
    level: int | None = Field(
        ..., description="level of the next chunk; null when the video is done"
    )
    bitrate_kbps: float | None
    policy: str = Field(..., description="the policy that chose the level")
    model_version: str | None = Field(None, description="set when the DQN model chose")
    fallback: bool = Field(False, description="true when the fallback policy answered instead")


class SessionStarted(Decision):
    session_id: str
    chunk_index: int = Field(0, description="the chunk this decision is for")


class ChunkReport(StrictRequest):
    index: int = Field(..., ge=0, le=MAX_INDEX, description="index of the chunk just downloaded")
    level: int = Field(..., ge=0, le=MAX_LEVEL, description="level it was downloaded at")
    size_bytes: Bytes
    download_s: Seconds = Field(..., description="request to last byte, seconds")
    buffer_s: SecondsOrZero = Field(..., description="buffer level after it arrived, seconds")
    rebuffer_s: SecondsOrZero = Field(0.0, description="stall time since the last report, seconds")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": 0,
                    "level": 1,
                    "size_bytes": 375000,
                    "download_s": 1.2,
                    "buffer_s": 4.0,
                    "rebuffer_s": 1.2,
                }
            ]
        }
    )


class ChunkDecision(Decision):
    chunk_index: int | None = Field(..., description="the chunk this decision is for")
    done: bool = Field(..., description="true after the last chunk's report")


class SessionSummaryOut(Strict):
    session_id: str
    policy: str
    qoe: str
    chunks: int
    mean_qoe: float | None = Field(..., description="mean per-chunk QoE over chunks 2..N")
    total_qoe: float | None
    avg_bitrate_kbps: float | None
    rebuffer_s: float | None
    startup_delay_s: float | None
    rebuffer_ratio: float | None
    switches: int | None
    fallbacks: int
    note: str | None = Field(
        None, description="why the QoE figures are null, when they are (fewer than 2 chunks)"
    )


class SessionLog(SessionSummaryOut):
    levels: list[int] = Field(..., description="the level of every chunk reported so far")
    rebuffer_s_by_chunk: list[float]


class PlayerHistory(StrictRequest):
    """What a player that keeps its own state knows before choosing chunk `chunk_index`."""

    chunk_index: int = Field(
        ..., ge=1, le=MAX_INDEX, description="the chunk to decide (1 = the second)"
    )
    last_level: int = Field(..., ge=0, le=MAX_LEVEL)
    buffer_s: SecondsOrZero
    throughput_kbps: list[Kbps] = Field(
        ..., min_length=1, description="size/download time of past chunks, oldest first"
    )
    download_s: list[Seconds] = Field(..., min_length=1, description="same chunks, seconds")


class DecideRequest(VideoSpec, PlayerHistory):
    policy: PolicyName = "dqn"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **ENVIVIO_EXAMPLE,
                    "policy": "dqn",
                    "chunk_index": 3,
                    "last_level": 2,
                    "buffer_s": 9.5,
                    "throughput_kbps": [1500.0, 1800.0, 2100.0],
                    "download_s": [2.1, 2.6, 2.3],
                }
            ]
        }
    )


class BatchDecideRequest(VideoSpec):
    policy: PolicyName = "dqn"
    players: list[PlayerHistory] = Field(..., min_length=1)


class ColumnsDecideRequest(VideoSpec):
    """The batch form in columns: entry i of every list is player i. Parsing a few long arrays
    costs a fraction of parsing one object per player, so this is the fastest form."""

    policy: PolicyName = "dqn"
    chunk_index: list[Annotated[int, Field(ge=1, le=MAX_INDEX)]] = Field(..., min_length=1)
    last_level: list[Annotated[int, Field(ge=0, le=MAX_LEVEL)]]
    buffer_s: list[SecondsOrZero]
    throughput_kbps: list[Annotated[list[Kbps], Field(min_length=1)]] = Field(
        ..., description="[player][chunk], oldest first; every player's history the same length"
    )
    download_s: list[Annotated[list[Seconds], Field(min_length=1)]] = Field(
        ..., description="[player][chunk], seconds"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **ENVIVIO_EXAMPLE,
                    "policy": "dqn",
                    "chunk_index": [3, 10],
                    "last_level": [2, 4],
                    "buffer_s": [9.5, 21.0],
                    "throughput_kbps": [[1500.0, 1800.0, 2100.0], [4100.0, 3900.0, 5200.0]],
                    "download_s": [[2.1, 2.6, 2.3], [3.4, 3.9, 2.8]],
                }
            ]
        }
    )


class BatchDecision(Strict):
    levels: list[int]
    bitrates_kbps: list[float]
    policy: str
    model_version: str | None
    fallback: bool


class ModelInfo(Strict):
    loaded: bool
    path: str | None
    version: str | None
    error: str | None
    providers: list[str]
    metadata: dict[str, object] | None


class PolicyInfo(Strict):
    name: str
    description: str
    stateless: bool = Field(..., description="usable with /v1/decide")


class Problem(Strict):
    detail: str


class ReloadRequest(StrictRequest):
    path: str | None = Field(None, description="model to load; default: the configured one")
