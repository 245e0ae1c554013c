"""``surrogates.devices.select_device``: one rule for every learned component's ``device``."""

from __future__ import annotations

import pytest
import torch

from surrogates.devices import select_device
from surrogates.shardcost.measure import select_device_name
from surrogates.surco.checkpoint import select_device as surco_select


def test_auto_and_cpu() -> None:
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    assert surco_select("auto").type == expected
    assert select_device_name("auto") == expected


def test_unknown_names_and_missing_cuda_are_errors() -> None:
    with pytest.raises(ValueError, match="option 'device': expected auto, cpu or cuda"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            select_device("cuda")
        with pytest.raises(ValueError, match="no CUDA device"):
            select_device_name("cuda")
