"""Run with `torchrun --nproc_per_node=2 torchrun_embed.py`: each process converts onto its own device."""

import os

import numpy as np
import torch

from toolkit import default_device, get_default_device, torch_in_numpy_out


@torch_in_numpy_out
def embed(block):
    return torch.tanh(block * 0.5)


if __name__ == "__main__":
    rank = int(os.environ["LOCAL_RANK"])
    with default_device("auto"):  # cuda:$LOCAL_RANK where there is CUDA, else the CPU
        device = get_default_device()
        out = embed(np.full((2, 3), float(rank), np.float32))
    print(f"rank {rank}: {device}, {out.dtype}, {out.sum():.3f}")
