"""Host arrays that device code reads every step (a video's chunk sizes, a QoE's utilities),
copied to a device once per array and kept there while the array lives: a copy from the host
each step would make a GPU's stream wait for the host."""

from __future__ import annotations

import weakref

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
