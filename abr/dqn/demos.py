"""Demonstrations for Deep Q-learning from Demonstrations (DQfD; Hester et al., AAAI 2018).

A baseline (RobustMPC by default) plays training sessions in training mode, exactly as the agent
will (random trace, random start, delay noise), and its chunks become n-step transitions with
the agent's reward. The trainer keeps them apart from the agent's own replay for the whole run:
they get the TD loss like any transition, plus a large-margin loss that holds the greedy action
of the network at the demonstrator's unless the TD targets say another action is worth more by
at least the margin. So training starts from the baseline's behaviour and departs from it only
where the returns show it pays.

Collection is deterministic: its own simulator, seeded from the run's seed, so a resumed run
collects the same demonstrations again instead of storing them in the checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from abr.dqn.nstep import NStepAccumulator, Transitions
from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.observation import AnySpec
from abr.policies.base import Policy
from abr.sim.config import SimConfig
from abr.sim.env import AbrEnv, FixedVideo

DEMO_SEED_OFFSET = 7_919  # keeps the demonstrations' random draws apart from the agent's


def collect_demonstrations(
    policy: Policy,
    traces: Sequence[Trace],
    video: Video,
    spec: AnySpec,
    qoe: str,
    *,
    env_steps: int,
    n_sessions: int,
    n_step: int,
    gamma: float,
    reward_scale: float = 1.0,
    sim_config: SimConfig | None = None,
    seed: int = 0,
) -> Transitions:
    """At least `env_steps` chunk downloads of `policy`, as n-step transitions.

    Sessions play whole videos in lockstep (every training session starts at chunk 0 and the
    video has one length), so the policy is reset once per round of videos and its per-session
    memory (RobustMPC's prediction errors) starts afresh with each session, as in the bench.
    """
    if env_steps < 1:
        raise ValueError(f"demonstration env_steps must be >= 1, got {env_steps}")
    env = AbrEnv(
        traces,
        FixedVideo(video),
        spec,
        n_sessions,
        mode="train",
        qoe=qoe,
        reward_scale=reward_scale,
        sim_config=sim_config,
        seed=seed + DEMO_SEED_OFFSET,
        autoreset=False,  # a round restarts every session together
    )
    nstep = NStepAccumulator(n_step, gamma, n_sessions, spec.dim)
    rounds = math.ceil(env_steps / (n_sessions * video.n_chunks))
    collected: list[Transitions] = []
    for _ in range(rounds):
        obs = env.encoded(env.reset())
        policy.reset(n_sessions, video)
        for _ in range(video.n_chunks):
            action = np.asarray(policy.act(env.player_state()), dtype=np.int64)
            stepped = env.step(action)
            next_obs = env.encoded(stepped.obs)
            collected.append(nstep.push(obs, action, stepped.reward, next_obs, stepped.done))
            obs = next_obs
        if not stepped.done.all():
            raise RuntimeError("demonstration sessions did not end together")
    return Transitions(*(np.concatenate(part) for part in zip(*collected, strict=True)))
