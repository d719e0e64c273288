"""Arrays that device code keeps: host arrays it reads every step (a video's chunk sizes, a
QoE's utilities), copied to a device once per array and kept there while the array lives (a
copy from the host each step would make a GPU's stream wait for the host); and saved tensors put
back on their owner's device when a run resumes."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import torch

_Key = tuple[int, str, torch.dtype]
_copies: dict[_Key, tuple[weakref.ref[np.ndarray], torch.Tensor]] = {}


def on_device(array: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`array` as a tensor on `device`; the same tensor for the same array (do not write to it)."""
    key = (id(array), str(device), dtype)
    kept = _copies.get(key)
    if kept is not None and kept[0]() is array:
        return kept[1]
    tensor = torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)
    _copies[key] = (weakref.ref(array), tensor)
    weakref.finalize(array, _copies.pop, key, None)
    return tensor


def restore_tensors(
    owner: object, state: dict[str, object], names: Sequence[str], what: str
) -> None:
    """Set each of `names` on `owner` from `state`, on the device and dtype of the tensor it
    replaces, after checking the shape (a ValueError naming `what` and the tensor if it differs)."""
    for name in names:
        value, current = state[name], getattr(owner, name)
        assert isinstance(value, torch.Tensor)
        if value.shape != current.shape:
            raise ValueError(f"saved {what} state {name!r} has shape {tuple(value.shape)}")
        setattr(owner, name, value.to(current.device, current.dtype).clone())
