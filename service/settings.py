"""Service settings: environment variables prefixed ABR_ (e.g. ABR_MODEL_PATH), or a dotenv file
named by ABR_SETTINGS_FILE; the environment wins over the file."""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_ADMIN_TOKEN_CHARS = 16
FILES_KEPT_FREE = 64  # descriptors left for the model, logs and health checks past the limit


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ABR_", extra="forbid")

    model_path: Path | None = Field(
        None, description="ONNX model; None or empty: the shipped default"
    )
    model_dir: Path | None = Field(
        None,
        description="the folder that admin reloads may load models from (symlinks resolved); "
        "None: the configured model's folder",
    )
    max_model_bytes: int = Field(
        256 * 2**20, ge=2**20, description="the largest model file loaded, bytes"
    )
    fallback_policy: Literal["bb", "mpc"] = Field(
        "bb", description="answers dqn sessions when the model is missing or fails"
    )
    onnx_threads: int = Field(1, ge=1, le=64)
    store: str = Field(
        "memory",
        description="where sessions live: memory (this process) or a Redis URL "
        "(redis://host:port/db), shared by every worker and replica",
    )
    telemetry: Path | None = Field(
        None,
        description="append each applied chunk report to this JSON-lines file (None: off); "
        "`abr traces from-telemetry` turns it into traces",
    )
    telemetry_sample: float = Field(
        1.0, gt=0, le=1, description="share of sessions logged (each wholly in or out)"
    )
    telemetry_key: str | None = Field(
        None,
        description="secret that session ids are hashed with in the log (HMAC-SHA256); "
        f"needed with telemetry, at least {MIN_ADMIN_TOKEN_CHARS} characters",
    )
    max_sessions: int = Field(100_000, ge=1, description="live sessions kept at most")
    session_ttl_s: float = Field(300.0, gt=0, description="idle seconds before a session expires")
    max_body_bytes: int = Field(1_000_000, ge=1_000)
    max_history: int = Field(64, ge=8, description="longest history in a stateless decision")
    max_batch: int = Field(4096, ge=1, description="most decisions in one batch request")
    max_batch_plans: int = Field(
        2**21,
        ge=6**5,
        description="RobustMPC level combinations one batch request may plan, all players "
        "together (a player: 6^5 on a 6-rung ladder)",
    )
    max_chunks: int = Field(100_000, ge=1)
    max_levels: int = Field(32, ge=1)
    max_table_bytes: int = Field(
        256 * 2**20,
        ge=2**20,
        description="memory for the size tables that sessions upload, all sessions together; "
        "past it the least recently used sessions are evicted",
    )
    idle_timeout_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="a connection silent this long is closed, before or between requests",
    )
    request_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="a request must arrive whole, headers and body, within this long of its "
        "first byte; else 408 (or the connection closed, mid-body)",
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        description="open connections at most, per process; None: the open-file limit less 64",
    )
    decision_workers: int = Field(
        1,
        ge=0,
        le=64,
        description="processes for stateless decisions (/v1/decide*), away from the event "
        "loop; 0: decide on the event loop",
    )
    decision_nice: int = Field(
        10, ge=0, le=19, description="how much lower the decision workers' CPU priority is"
    )
    cors_origins: list[str] = Field(default_factory=list, description="[] = no CORS at all")
    admin_token: str | None = Field(
        None,
        description=f"None: admin endpoints are disabled; else at least {MIN_ADMIN_TOKEN_CHARS} "
        "characters",
    )
    demo: bool = Field(True, description="serve the dash.js demo page under /demo")
    dashjs_path: Path = Field(
        Path(__file__).resolve().parents[1]
        / "players/dashjs/node_modules/dashjs/dist/modern/umd/dash.all.min.js",
        description="dash.js for the demo page (`npm install` in players/dashjs)",
    )
    uplot_dir: Path = Field(
        Path(__file__).resolve().parents[1] / "players/dashjs/node_modules/uplot/dist",
        description="uPlot (the demo page's charts; `npm install` in players/dashjs)",
    )

    @field_validator("model_path", mode="before")
    @classmethod
    def _empty_is_the_default(cls, path: object) -> object:
        # `ABR_MODEL_PATH=` is how shells and compose files unset a variable, not a path to "."
        return None if isinstance(path, str) and not path.strip() else path

    @field_validator("store")
    @classmethod
    def _known_store(cls, store: str) -> str:
        if store != "memory" and not store.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"{store!r} is neither memory nor a redis://, rediss:// or unix:// URL"
            )
        return store

    @model_validator(mode="after")
    def _telemetry_has_a_key(self) -> ServiceSettings:
        key = self.telemetry_key
        if self.telemetry is not None and (key is None or len(key) < MIN_ADMIN_TOKEN_CHARS):
            raise ValueError(
                f"ABR_TELEMETRY needs ABR_TELEMETRY_KEY of at least {MIN_ADMIN_TOKEN_CHARS} "
                "characters (session ids are logged only as keyed hashes)"
            )
        return self

    @field_validator("admin_token")
    @classmethod
    def _token_long_enough(cls, token: str | None) -> str | None:
        if token is not None and len(token) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(
                f"must be at least {MIN_ADMIN_TOKEN_CHARS} characters "
                "(unset it to disable the admin endpoints)"
            )
        return token

    def max_connections_now(self) -> int:
        """The connection limit in force: the setting, or what the open-file limit leaves."""
        if self.max_connections is not None:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        unlimited = soft == resource.RLIM_INFINITY
        return 10_000 if unlimited else max(soft - FILES_KEPT_FREE, 1)

    @classmethod
    def from_environment(cls) -> ServiceSettings:
        settings_file = os.environ.get("ABR_SETTINGS_FILE")
        if settings_file and not Path(settings_file).is_file():
            raise ValueError(f"ABR_SETTINGS_FILE={settings_file}: no such file")
        try:
            return cls(_env_file=settings_file)  # type: ignore[call-arg]
        except ValidationError as exc:  # one line naming the variable, not pydantic's report
            error = exc.errors()[0]
            message = error["msg"].removeprefix("Value error, ")
            if not error["loc"]:  # a check across settings names its variables itself
                raise ValueError(message) from None
            name = "ABR_" + "_".join(str(part) for part in error["loc"]).upper()
            raise ValueError(f"{name}: {message}") from None
