"""Every policy by its name: one table that the CLI, training and the service all read.

A name may carry an argument after a colon: `fixed:<level>`, `onnx:<model.onnx>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from abr.policies.base import Policy
from abr.policies.bola import Bola, Dynamic
from abr.policies.mpc import RobustMpc
from abr.policies.simple import BufferBased, FixedPolicy, RateBased


@dataclass(frozen=True)
class PolicyEntry:
    name: str
    description: str
    # (the argument after the colon, or None; the QoE that planners optimise) -> a policy
    factory: Callable[[str | None, str], Policy]
    # a classic online baseline: sees only what a player sees, needs no model or trace
    baseline: bool = False
    # its decision can be rebuilt from a player's throughput history (no state of its own)
    stateless: bool = True
    argument: str | None = None  # what the part after the colon is, if the name takes one
    argument_optional: bool = False  # the name alone works too


def _fixed(argument: str | None, qoe: str) -> Policy:
    try:
        return FixedPolicy(int(argument or ""))
    except ValueError:
        raise ValueError(f"bad policy 'fixed:{argument or ''}': expected fixed:<level>") from None


def _optimal(argument: str | None, qoe: str) -> Policy:
    from abr.policies.optimal import OfflineOptimal  # builds a simulator: loaded on demand

    return OfflineOptimal(qoe=qoe)


def _oracle(argument: str | None, qoe: str) -> Policy:
    from abr.policies.oracle import (  # simulator: on demand
        DEFAULT_BUFFER_VALUE,
        DEFAULT_HORIZON,
        FutureAwareOracle,
    )

    bad = f"bad policy 'oracle:{argument}': expected oracle[:<horizon>[:<buffer value>]]"
    parts = argument.split(":") if argument else []
    if len(parts) > 2:
        raise ValueError(bad)
    try:
        horizon = int(parts[0]) if parts else DEFAULT_HORIZON
        buffer_value = float(parts[1]) if len(parts) == 2 else DEFAULT_BUFFER_VALUE
    except ValueError:
        raise ValueError(bad) from None
    return FutureAwareOracle(horizon=horizon, buffer_value=buffer_value, qoe=qoe)


def _onnx(argument: str | None, qoe: str) -> Policy:
    from abr.policies.onnx import OnnxPolicy  # loads onnxruntime: on demand

    return OnnxPolicy(argument or None)


POLICIES: dict[str, PolicyEntry] = {
    entry.name: entry
    for entry in (
        PolicyEntry("fixed", "always the given level", _fixed, argument="<level>"),
        PolicyEntry(
            "bb",
            "buffer-based (Huang et al. 2014): reservoir 5 s, cushion 10 s",
            lambda argument, qoe: BufferBased(),
            baseline=True,
        ),
        PolicyEntry(
            "rb",
            "rate-based: highest rung below the harmonic mean of the last 5 throughputs",
            lambda argument, qoe: RateBased(),
            baseline=True,
        ),
        PolicyEntry(
            "bola",
            "BOLA-BASIC (Spiteri et al. 2016), parameters from the ladder",
            lambda argument, qoe: Bola(),
            baseline=True,
        ),
        PolicyEntry(
            "mpc",
            "RobustMPC (Yin et al. 2015), lookahead 5",
            lambda argument, qoe: RobustMpc(qoe=qoe),
            baseline=True,
        ),
        PolicyEntry(
            "dynamic",
            "dash.js-style: throughput rule at low buffer, BOLA above 10 s",
            lambda argument, qoe: Dynamic(),
            baseline=True,
            stateless=False,
        ),
        PolicyEntry(
            "optimal", "the offline optimum (dynamic programming over the whole trace)", _optimal
        ),
        PolicyEntry(
            "oracle",
            "a future-aware teacher: the best level over the next chunks of the true trace "
            "(exhaustive lookahead, 5 chunks by default; a second of buffer left at the end of a "
            "plan scores 0.1 QoE by default)",
            _oracle,
            argument="<horizon>[:<buffer value>]",
            argument_optional=True,
        ),
        PolicyEntry(
            "onnx",
            "an exported DQN model (ONNX); without a path, the shipped one",
            _onnx,
            argument="<model.onnx>",
            argument_optional=True,
        ),
    )
}
BASELINES = tuple(name for name, entry in POLICIES.items() if entry.baseline)


def _usage(name: str, entry: PolicyEntry) -> str:
    if entry.argument is None:
        return name
    return f"{name}[:{entry.argument}]" if entry.argument_optional else f"{name}:{entry.argument}"


POLICY_HELP = ", ".join(_usage(name, entry) for name, entry in POLICIES.items())


def make_policy(name: str, qoe: str = "lin") -> Policy:
    """A policy by its name (see `POLICIES`); `qoe` is the objective of planners (mpc, optimal)."""
    base, colon, argument = name.partition(":")
    entry = POLICIES.get(base)
    if entry is None or (colon and entry.argument is None):
        raise ValueError(f"unknown policy {name!r}; expected one of: {POLICY_HELP}")
    return entry.factory(argument if colon else None, qoe)
