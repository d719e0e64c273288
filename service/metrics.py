"""Prometheus metrics, in a registry of the app's own (so two apps in one process do not mix)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self._decision_children: dict[tuple[str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "abr_request_seconds",
            "request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.decisions = Counter(
            "abr_decisions",
            "decisions made, by policy and level",
            ["policy", "level"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "abr_fallbacks",
            "decisions the fallback policy made for the model",
            registry=self.registry,
        )
        self.errors = Counter(
            "abr_errors",
            "requests answered with an error, by status",
            ["status"],
            registry=self.registry,
        )
        self.active_sessions = Gauge(
            "abr_active_sessions", "live sessions in the store", registry=self.registry
        )
        self.sessions_reclaimed = Gauge(
            "abr_sessions_reclaimed",
            "sessions dropped by TTL or the session limit",
            ["why"],
            registry=self.registry,
        )
        self.retried_reports = Counter(
            "abr_retried_reports",
            "chunk reports answered again: identical retries of a report already applied",
            registry=self.registry,
        )
        self.telemetry_failures = Counter(
            "abr_telemetry_failures",
            "applied chunk reports whose telemetry line could not be written",
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "abr_model_loaded", "1 when the DQN model is loaded", registry=self.registry
        )
        self.reloads = Counter(
            "abr_model_reloads",
            "model reload attempts, by outcome",
            ["outcome"],
            registry=self.registry,
        )

    # The per-request updates, with each labelled child looked up once (labels() costs more than
    # the increment itself, and these run on every decision).
    def count_decisions(self, policy: str, level: int, n: int = 1) -> None:
        key = (policy, level)
        child = self._decision_children.get(key)
        if child is None:
            child = self._decision_children[key] = self.decisions.labels(policy, str(level))
        child.inc(n)

    def observe_latency(self, route: str, seconds: float) -> None:
        child = self._latency_children.get(route)
        if child is None:
            child = self._latency_children[route] = self.latency.labels(route)
        child.observe(seconds)
