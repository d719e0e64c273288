"""Which training traces new sessions play: uniformly, or more often where the policy trails
RobustMPC (a curriculum in the spirit of Genet, Xia et al., SIGCOMM 2022: train where a
rule-based baseline still beats the learned policy).

`mpc_gap`: RobustMPC's mean QoE on every training trace is computed once (evaluation mode, the
bench code path). Every `curriculum_every_env_steps`, the greedy policy plays every training
trace too, and trace i is drawn with probability

    floor / T + (1 - floor) * gap_i / sum(gap),   gap_i = max(0, QoE_mpc_i - QoE_policy_i),

uniform when the policy trails RobustMPC nowhere. The floor keeps every trace in play, so the
policy does not forget the links it has learned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abr.bench.run import run_policy
from abr.media.traces import Trace
from abr.media.video import Video
from abr.policies.base import Policy
from abr.policies.registry import make_policy


def gap_weights(mpc_qoe: np.ndarray, policy_qoe: np.ndarray, floor: float) -> np.ndarray:
    """Sampling probabilities per trace from both policies' mean QoE on it."""
    _check_floor(floor)
    uniform = np.full(len(mpc_qoe), 1.0 / len(mpc_qoe))
    gap = np.maximum(mpc_qoe - policy_qoe, 0.0)
    if not gap.sum() > 0.0:
        return uniform
    return floor * uniform + (1.0 - floor) * gap / gap.sum()


def _check_floor(floor: float) -> None:
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"curriculum_floor must lie in [0, 1], got {floor}")


@dataclass(frozen=True)
class MpcGapCurriculum:
    traces: Sequence[Trace]  # the training traces, in the simulator's order
    video: Video
    qoe: str
    floor: float
    mpc_qoe: np.ndarray  # RobustMPC's mean QoE per training trace

    @classmethod
    def build(
        cls, traces: Sequence[Trace], video: Video, qoe: str, floor: float
    ) -> MpcGapCurriculum:
        _check_floor(floor)  # before the long part
        mpc_qoe = run_policy(make_policy("mpc", qoe), traces, video, qoe).qoe_per_trace
        return cls(traces, video, qoe, floor, mpc_qoe)

    def weights(self, policy: Policy) -> np.ndarray:
        policy_qoe = run_policy(policy, self.traces, self.video, self.qoe).qoe_per_trace
        return gap_weights(self.mpc_qoe, policy_qoe, self.floor)
