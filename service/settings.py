"""Service settings: environment variables prefixed ABR_ (e.g. ABR_MODEL_PATH), or a dotenv file
named by ABR_SETTINGS_FILE; the environment wins over the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ABR_", extra="forbid")

    model_path: Path | None = Field(None, description="ONNX model; None: the shipped default")
    fallback_policy: Literal["bb", "mpc"] = Field(
        "bb", description="answers dqn sessions when the model is missing or fails"
    )
    onnx_threads: int = Field(1, ge=1, le=64)
    max_sessions: int = Field(100_000, ge=1, description="live sessions kept at most")
    session_ttl_s: float = Field(300.0, gt=0, description="idle seconds before a session expires")
    max_body_bytes: int = Field(1_000_000, ge=1_000)
    max_history: int = Field(64, ge=8, description="longest history in a stateless decision")
    max_batch: int = Field(4096, ge=1, description="most decisions in one batch request")
    max_chunks: int = Field(100_000, ge=1)
    max_levels: int = Field(32, ge=1)
    cors_origins: list[str] = Field(default_factory=list, description="[] = no CORS at all")
    admin_token: str | None = Field(None, description="None: admin endpoints are disabled")
    demo: bool = Field(True, description="serve the dash.js demo page under /demo")
    dashjs_path: Path = Field(
        Path(__file__).resolve().parents[1]
        / "players/dashjs/node_modules/dashjs/dist/modern/umd/dash.all.min.js",
        description="dash.js for the demo page (`npm install` in players/dashjs)",
    )

    @classmethod
    def from_environment(cls) -> ServiceSettings:
        settings_file = os.environ.get("ABR_SETTINGS_FILE")
        if settings_file and not Path(settings_file).is_file():
            raise ValueError(f"ABR_SETTINGS_FILE={settings_file}: no such file")
        return cls(_env_file=settings_file)  # type: ignore[call-arg]
