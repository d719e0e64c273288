"""`encode` (abr/player/observation.py) in torch, for states that live on a device: the same
columns, the same arithmetic, float32 out. Held equal to `encode` by
tests/player/test_torch_observation.py."""

from __future__ import annotations

import torch

from abr.media.video import Video
from abr.player.observation import ObservationSpec
from abr.units import BITS_PER_BYTE, BITS_PER_KBIT


class TorchEncoder:
    """The video's constants on the device, once; `encode` per step."""

    def __init__(
        self, spec: ObservationSpec, video: Video, device: torch.device, dtype: torch.dtype
    ) -> None:
        if video.n_levels != spec.n_levels:
            raise ValueError(f"video has {video.n_levels} levels, spec expects {spec.n_levels}")
        self.spec, self.video = spec, video
        self.top_kbps = float(video.bitrates_kbps[-1])
        self.bitrates_kbps = torch.as_tensor(video.bitrates_kbps, dtype=dtype, device=device)
        self.sizes_bytes = torch.as_tensor(video.sizes_bytes, dtype=dtype, device=device)
        self.nominal_top_bytes = self.top_kbps * BITS_PER_KBIT / BITS_PER_BYTE * video.chunk_s

    def encode(
        self,
        last_level: torch.Tensor,
        buffer_s: torch.Tensor,
        chunk: torch.Tensor,
        throughput_kbps: torch.Tensor,
        download_s: torch.Tensor,
        history_count: torch.Tensor,
    ) -> torch.Tensor:
        """[N, spec.dim] float32 from a player's arrays (histories [N, H], most recent last)."""
        spec, video = self.spec, self.video
        h, top = spec.history_len, self.top_kbps
        next_chunk = torch.clamp(chunk, max=video.n_chunks - 1)
        next_sizes = self.sizes_bytes[:, next_chunk].T  # [N, L]
        next_sizes = torch.where((chunk >= video.n_chunks)[:, None], 0.0, next_sizes)
        columns = [
            (self.bitrates_kbps[last_level] / top)[:, None],
            (buffer_s / spec.buffer_scale_s)[:, None],
            ((video.n_chunks - chunk) / video.n_chunks)[:, None].to(buffer_s.dtype),
            torch.clamp(throughput_kbps[:, -h:] / top, 0.0, spec.throughput_clip),
            download_s[:, -h:] / video.chunk_s,
            next_sizes / self.nominal_top_bytes,
        ]
        if spec.robust_window > 0:
            columns += [
                torch.clamp(column / top, 0.0, spec.throughput_clip)[:, None]
                for column in robust_throughputs_kbps(
                    throughput_kbps, history_count, spec.robust_window
                )
            ]
        return torch.cat(columns, dim=1).to(torch.float32)


def robust_throughputs_kbps(
    throughput_kbps: torch.Tensor, history_count: torch.Tensor, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Harmonic mean and minimum of the last `window` throughputs that exist; 0 where none."""
    recent = throughput_kbps[:, -window:]
    width = recent.shape[1]
    column = torch.arange(width, device=recent.device)[None, :]
    exists = column >= width - torch.clamp(history_count, max=window)[:, None]
    inverse_sum = torch.where(exists, 1.0 / torch.where(exists, recent, 1.0), 0.0).sum(dim=1)
    count = exists.sum(dim=1).to(recent.dtype)
    harmonic = torch.where(count > 0, count / torch.where(inverse_sum > 0, inverse_sum, 1.0), 0.0)
    smallest = torch.where(exists, recent, torch.inf).min(dim=1).values
    return harmonic, torch.where(torch.isfinite(smallest), smallest, 0.0)
