"""Where the learner's experience comes from: the sessions it plays, their observations, the
rewards turned into n-step transitions, and the teacher's labels of the states visited. Two
places, one interface:

- `HostCollector`: the simulator on the host (numpy, or numba's compiled step), observations and
  n-step returns in numpy; tensors cross to the training device once a step.
- `DeviceCollector`: the torch simulator, encoding, rewards, n-step returns and the teacher's
  labels all on the training device, in shapes fixed by the number of sessions, so a GPU steps
  thousands of sessions without a read back to the host (tests/dqn/test_collect.py checks
  every op of a step).

`pick_collector` chooses by device: on a GPU the device collector; on a CPU the host one, whose
numpy and numba paths step an order of magnitude faster there than torch does
(docs/results.md, "Simulator speed").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from abr.dqn.checkpoint import as_numpy, as_tensors
from abr.dqn.config import DqnConfig
from abr.dqn.nstep import NStepAccumulator, Transitions
from abr.dqn.teacher import Teacher
from abr.dqn.torch_nstep import TorchNStep, TorchTransitions
from abr.media.traces import Trace
from abr.media.video import Video
from abr.player.ladder_observation import LadderSpec
from abr.player.observation import AnySpec, ObservationSpec, encode
from abr.player.qoe import Qoe
from abr.player.torch_observation import TorchEncoder
from abr.policies.torch_mpc import torch_robust_mpc_from_history
from abr.policies.torch_oracle import torch_lookahead_values
from abr.sim.config import SimConfig
from abr.sim.simulator import BatchSimulator
from abr.sim.torch_simulator import TorchSimulator
from abr.sim.trace_table import TraceTable

Labels = tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor | None]


class Collector(Protocol):
    name: str

    def observation(self) -> torch.Tensor:
        """[N, D] float32 on the training device: what the sessions observe now."""
        ...

    def act(self, network: torch.nn.Module, epsilon: float) -> np.ndarray | torch.Tensor:
        """Epsilon-greedy levels for every session."""
        ...

    def teach(self, teacher: Teacher, values: bool) -> Labels:
        """The teacher's levels for the sessions' states now (and its per-level values)."""
        ...

    def step(self, action: np.ndarray | torch.Tensor) -> Transitions | TorchTransitions:
        """Every session fetches one chunk; finished ones start again; the n-step transitions
        that became complete."""
        ...

    def set_trace_weights(self, weights: np.ndarray | None) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, saved: dict[str, Any]) -> None: ...


class HostCollector:
    name = "host"

    def __init__(
        self,
        config: DqnConfig,
        traces: Sequence[Trace] | TraceTable,
        video: Video,
        spec: AnySpec,
        qoe: Qoe,
        device: torch.device,
    ) -> None:
        self.config, self.spec, self.qoe, self.device = config, spec, qoe, device
        self.scale = config.reward_scale  # reward units per QoE unit
        sim_config = SimConfig(history_len=config.history_len)
        self.sim = BatchSimulator(
            traces, video, config.n_sessions, "train", sim_config, seed=config.seed
        )
        self.name = f"host ({self.sim.backend})"
        self.nstep = NStepAccumulator(config.n_step, config.gamma, config.n_sessions, spec.dim)
        self.rng = np.random.default_rng(config.seed)
        self.obs = self._encode()  # [N, D]

    def _encode(self) -> np.ndarray:
        """What the sessions observe now, [N, D]."""
        return encode(self.sim.player_state(), self.spec)

    def _restart(self, done: np.ndarray) -> None:
        """The finished sessions start a new video."""
        self.sim.reset(mask=done)

    def observation(self) -> torch.Tensor:
        return torch.as_tensor(self.obs, device=self.device)

    def act(self, network: torch.nn.Module, epsilon: float) -> np.ndarray:
        with torch.no_grad():
            greedy = network(self.observation()).argmax(dim=1).cpu().numpy()
        return self.explore(greedy, epsilon)

    def explore(self, greedy: np.ndarray, epsilon: float) -> np.ndarray:
        """Each session's greedy level, or with probability epsilon a random one of the video's."""
        n, n_levels = self.config.n_sessions, self.sim.video.n_levels
        explore = self.rng.random(n) < epsilon
        return np.where(explore, self.rng.integers(0, n_levels, n), greedy)

    def teach(self, teacher: Teacher, values: bool) -> Labels:
        taught = teacher.values(self.sim) if values else None
        levels = teacher.label(self.sim) if taught is None else np.argmax(taught, axis=1)
        return levels, taught

    def step(self, action: np.ndarray | torch.Tensor) -> Transitions:
        action = np.asarray(action)
        previous_level = self.sim.last_level.copy()
        result = self.sim.step(action)
        reward = self.qoe.per_chunk(action, previous_level, result.rebuffer_s) * self.scale
        next_obs = self._encode()
        transitions = self.nstep.push(self.obs, action, reward, next_obs, result.done)
        if result.done.any():  # same-step reset
            self._restart(result.done)
            next_obs = np.where(result.done[:, None], self._encode(), next_obs)
        self.obs = next_obs
        return transitions

    def set_trace_weights(self, weights: np.ndarray | None) -> None:
        self.sim.set_trace_weights(weights)

    def state_dict(self) -> dict[str, Any]:
        return {
            "nstep": as_tensors(self.nstep.state_dict()),
            "sim": as_tensors(self.sim.state_dict()),
            "rng": self.rng.bit_generator.state,
            "obs": torch.from_numpy(self.obs),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.nstep.load_state_dict(as_numpy(saved["nstep"]))
        self.sim.load_state_dict(as_numpy(saved["sim"]))
        self.rng.bit_generator.state = saved["rng"]
        self.obs = saved["obs"].cpu().numpy()


class DeviceCollector:
    name = "device (torch)"

    def __init__(
        self,
        config: DqnConfig,
        traces: Sequence[Trace],
        video: Video,
        spec: ObservationSpec,
        qoe: Qoe,
        device: torch.device,
    ) -> None:
        if config.curriculum != "none":
            raise ValueError("the device collector draws traces uniformly: curriculum = none")
        self.config, self.spec, self.qoe, self.device = config, spec, qoe, device
        sim_config = SimConfig(history_len=config.history_len)
        self.sim = TorchSimulator(
            traces, video, config.n_sessions, "train", sim_config, config.seed, device
        )
        self.encoder = TorchEncoder(spec, video, device, self.sim.dtype)
        self.utility = torch.as_tensor(qoe.utility, dtype=self.sim.dtype, device=device)
        self.nstep = TorchNStep(config.n_step, config.gamma, config.n_sessions, spec.dim, device)
        self.generator = torch.Generator(device=device).manual_seed(config.seed + 1)
        self.obs = self.sim.observe(self.encoder)

    def observation(self) -> torch.Tensor:
        return self.obs

    def act(self, network: torch.nn.Module, epsilon: float) -> torch.Tensor:
        n, n_levels = self.config.n_sessions, self.sim.video.n_levels
        with torch.no_grad():
            greedy = network(self.obs).argmax(dim=1)
        explore = torch.rand(n, generator=self.generator, device=self.device) < epsilon
        random = torch.randint(0, n_levels, (n,), generator=self.generator, device=self.device)
        return torch.where(explore, random, greedy)

    def teach(self, teacher: Teacher, values: bool) -> Labels:
        # the config's teacher, computed by its torch twin on the device (equal labels, tested)
        config = self.config
        if config.teacher == "oracle":
            taught = torch_lookahead_values(
                self.sim,
                self.qoe,
                config.teacher_horizon,
                config.teacher_buffer_value_for(self.sim.video.chunk_s),
            )
            return taught.argmax(dim=1), taught if values else None
        sim = self.sim
        throughput_kbps, _ = sim.history()
        levels = torch_robust_mpc_from_history(
            throughput_kbps,
            sim.history_count,
            sim.buffer_s,
            sim.last_level,
            sim.chunk,
            sim.video,
            self.qoe,
        )
        return levels, None

    def step(self, action: np.ndarray | torch.Tensor) -> TorchTransitions:
        sim = self.sim
        action = torch.as_tensor(action, device=self.device)
        previous = sim.last_level
        result = sim.step(action)
        quality = self.utility[action]
        reward = (
            quality
            - self.qoe.rebuffer_penalty * result.rebuffer_s
            - torch.abs(quality - self.utility[previous])
        ) * self.config.reward_scale
        next_obs = sim.observe(self.encoder)
        transitions = self.nstep.push(self.obs, action, reward, next_obs, result.done)
        sim.reset(mask=result.done)  # a no-op for the sessions still playing
        self.obs = torch.where(result.done[:, None], sim.observe(self.encoder), next_obs)
        return transitions

    def set_trace_weights(self, weights: np.ndarray | None) -> None:
        raise ValueError("the device collector draws traces uniformly")

    def state_dict(self) -> dict[str, Any]:
        return {
            "nstep": self.nstep.state_dict(),
            "sim": self.sim.state_dict(),
            "act_generator": self.generator.get_state(),
            "obs": self.obs.clone(),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.nstep.load_state_dict(saved["nstep"])
        self.sim.load_state_dict(saved["sim"])
        self.generator.set_state(saved["act_generator"].cpu())
        self.obs = saved["obs"].to(self.device)


def pick_collector(
    config: DqnConfig,
    traces: Sequence[Trace],
    video: Video,
    spec: AnySpec,
    qoe: Qoe,
    device: torch.device,
) -> Collector:
    """`collector` "auto": the device collector on a GPU, the host one on a CPU; with sampled
    ladders, the host collector over a new video every episode (abr/dqn/video_mix.py)."""
    if isinstance(spec, LadderSpec):
        from abr.dqn.video_mix import VideoGroupsCollector, VideoMixCollector  # imports collect

        if config.videos_per_batch > 1:
            return VideoGroupsCollector(config, traces, video, spec, device)
        return VideoMixCollector(config, traces, video, spec, device)
    on_device = config.collector == "device" or (
        config.collector == "auto" and device.type == "cuda"
    )
    kind = DeviceCollector if on_device else HostCollector
    return kind(config, traces, video, spec, qoe, device)
