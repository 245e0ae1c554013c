"""Agent tests: torch on one thread (tiny models are much slower with threads fighting over
shared cores)."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
