"""The GNN actor-critic of ``neuroplan``: one set of weights for graphs of any size.

Input: the graph observation of a planning environment (see
:mod:`problems.network_planning.env`): node features ``(N, F_n)``, edge features
``(E, F_e)``, the edge list ``(2, E)`` (each edge an undirected link) and an action mask of
``E * K`` entries (``K`` amounts per edge). Output: masked logits over the ``E * K``
actions and a state value.

Architecture: node and edge encoders (MLPs to ``hidden``), then ``layers`` rounds of
message passing in which each edge's message ``MLP([h_a + h_b, |h_a - h_b|, e])`` updates
the edge (residual) and is mean-aggregated into both end nodes (residual node update);
the actor scores each edge from ``[e, h_a + h_b, |h_a - h_b|]`` into ``K`` logits, the
critic reads the mean of the edge and node states. Every operation is symmetric in the
two ends of an edge and independent of the number of nodes and edges.

Graphs are batched PyG-style (node indices offset per graph) with plain ``index_add_``;
torch_geometric is not needed for a model this small, and it would be one more compiled
dependency to pin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["GraphBatch", "PlanningPolicy", "PolicyConfig", "masked_log_softmax"]

NEG = -1e9


@dataclass(frozen=True)
class PolicyConfig:
    """Sizes of the network; stored in checkpoints."""

    node_features: int
    link_features: int
    amounts: int
    hidden: int = 64
    layers: int = 3

    def to_json(self) -> dict[str, int]:
        return {
            "node_features": self.node_features,
            "link_features": self.link_features,
            "amounts": self.amounts,
            "hidden": self.hidden,
            "layers": self.layers,
        }


@dataclass
class GraphBatch:
    """Observations of several graphs joined into one: ``node_graph[v]`` and
    ``edge_graph[e]`` say which graph a node or an edge belongs to; ``action_graph`` the
    graph of each flat action (``E_total * K``)."""

    nodes: Tensor
    links: Tensor
    edges: Tensor
    mask: Tensor
    node_graph: Tensor
    edge_graph: Tensor
    action_graph: Tensor
    num_graphs: int
    action_offsets: list[int]

    @classmethod
    def from_observations(cls, observations: Sequence[dict[str, Any]], device: torch.device) -> GraphBatch:
        nodes, links, edges, masks = [], [], [], []
        node_graph, edge_graph, action_graph, offsets = [], [], [], []
        base = 0
        actions = 0
        for g, obs in enumerate(observations):
            n = obs["nodes"].shape[0]
            e = obs["links"].shape[0]
            k = obs["action_mask"].shape[0]
            nodes.append(torch.as_tensor(obs["nodes"], dtype=torch.float32))
            links.append(torch.as_tensor(obs["links"], dtype=torch.float32))
            edges.append(torch.as_tensor(obs["edges"], dtype=torch.int64) + base)
            masks.append(torch.as_tensor(obs["action_mask"], dtype=torch.bool))
            node_graph.append(torch.full((n,), g, dtype=torch.int64))
            edge_graph.append(torch.full((e,), g, dtype=torch.int64))
            action_graph.append(torch.full((k,), g, dtype=torch.int64))
            offsets.append(actions)
            base += n
            actions += k
        return cls(
            nodes=torch.cat(nodes).to(device),
            links=torch.cat(links).to(device),
            edges=torch.cat(edges, dim=1).to(device),
            mask=torch.cat(masks).to(device),
            node_graph=torch.cat(node_graph).to(device),
            edge_graph=torch.cat(edge_graph).to(device),
            action_graph=torch.cat(action_graph).to(device),
            num_graphs=len(observations),
            action_offsets=offsets,
        )


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.SiLU(), nn.Linear(hidden, outputs))


def _segment_mean(values: Tensor, index: Tensor, count: int) -> Tensor:
    total = torch.zeros(count, values.shape[1], device=values.device, dtype=values.dtype)
    total.index_add_(0, index, values)
    n = torch.zeros(count, device=values.device, dtype=values.dtype)
    n.index_add_(0, index, torch.ones_like(index, dtype=values.dtype))
    return total / n.clamp(min=1.0).unsqueeze(1)


def masked_log_softmax(logits: Tensor, mask: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """Log-probabilities of flat ``logits`` normalized within each ``group`` (graph) over
    the entries where ``mask`` is true (masked entries get a very low value)."""
    masked = torch.where(mask, logits, torch.full_like(logits, NEG))
    top = torch.full((num_groups,), NEG, device=logits.device, dtype=logits.dtype)
    top = top.scatter_reduce(0, group, masked, reduce="amax", include_self=True)
    shifted = masked - top[group]
    exp = torch.where(mask, shifted.exp(), torch.zeros_like(shifted))
    total = torch.zeros(num_groups, device=logits.device, dtype=logits.dtype).index_add_(0, group, exp)
    return shifted - total.clamp(min=1e-30).log()[group]


class PlanningPolicy(nn.Module):
    """See the module docstring. ``forward`` returns ``(log_probs, values)``: flat
    log-probabilities per action (normalized per graph over allowed actions) and one value
    per graph."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.node_in = _mlp(config.node_features, h, h)
        self.edge_in = _mlp(config.link_features, h, h)
        self.edge_update = nn.ModuleList([_mlp(3 * h, h, h) for _ in range(config.layers)])
        self.node_update = nn.ModuleList([_mlp(2 * h, h, h) for _ in range(config.layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(h) for _ in range(config.layers)])
        self.actor = _mlp(3 * h, h, config.amounts)
        self.critic = _mlp(2 * h, h, 1)

    def forward(self, batch: GraphBatch) -> tuple[Tensor, Tensor]:
        h = self.node_in(batch.nodes)
        e = self.edge_in(batch.links)
        a, b = batch.edges[0], batch.edges[1]
        num_nodes = h.shape[0]
        for edge_mlp, node_mlp, norm in zip(self.edge_update, self.node_update, self.norms, strict=True):
            ha, hb = h[a], h[b]
            e = e + edge_mlp(torch.cat([ha + hb, (ha - hb).abs(), e], dim=1))
            both = torch.cat([a, b])
            agg = _segment_mean(torch.cat([e, e]), both, num_nodes)
            h = norm(h + node_mlp(torch.cat([h, agg], dim=1)))
        ha, hb = h[a], h[b]
        logits = self.actor(torch.cat([e, ha + hb, (ha - hb).abs()], dim=1)).reshape(-1)
        log_probs = masked_log_softmax(logits, batch.mask, batch.action_graph, batch.num_graphs)
        pooled = torch.cat(
            [
                _segment_mean(e, batch.edge_graph, batch.num_graphs),
                _segment_mean(h, batch.node_graph, batch.num_graphs),
            ],
            dim=1,
        )
        return log_probs, self.critic(pooled).squeeze(1)
