"""ABR policies behind one batched protocol (`base.Policy`), and their names on the CLI."""

from __future__ import annotations

from abr.policies.base import Policy
from abr.policies.bola import Bola, Dynamic
from abr.policies.mpc import RobustMpc
from abr.policies.simple import BufferBased, FixedPolicy, RateBased

ONLINE_POLICIES = ("bb", "rb", "bola", "mpc", "dynamic")
POLICY_HELP = (
    "fixed:<level>, bb, rb, bola, mpc (RobustMPC), dynamic, optimal, "
    "onnx (the shipped model), onnx:<model.onnx>"
)


def make_policy(name: str, qoe: str = "lin") -> Policy:
    """A policy by its CLI name; `qoe` is the objective of planners (mpc, optimal)."""
    if name.startswith("fixed:"):
        try:
            return FixedPolicy(int(name.split(":", 1)[1]))
        except ValueError:
            raise ValueError(f"bad policy {name!r}: expected fixed:<level>") from None
    if name == "bb":
        return BufferBased()
    if name == "rb":
        return RateBased()
    if name == "bola":
        return Bola()
    if name == "mpc":
        return RobustMpc(qoe=qoe)
    if name == "dynamic":
        return Dynamic()
    if name == "optimal":
        from abr.policies.optimal import OfflineOptimal

        return OfflineOptimal(qoe=qoe)
    if name == "onnx" or name.startswith("onnx:"):
        from abr.onnx_policy import OnnxPolicy

        path = name.split(":", 1)[1] if ":" in name else None
        return OnnxPolicy(path or None)
    raise ValueError(f"unknown policy {name!r}; expected one of: {POLICY_HELP}")


__all__ = ["ONLINE_POLICIES", "POLICY_HELP", "Policy", "make_policy"]
