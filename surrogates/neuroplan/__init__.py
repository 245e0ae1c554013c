"""``neuroplan``: NeuroPlan-style planning (Zhu et al., SIGCOMM 2021) with a size-independent
GNN policy: the policy adds capacity in the problem's RL environment until every scenario
routes, then the solver finalizes the ILP restricted to ``[minimum, ceil(alpha x policy
units)]`` per link.

Modules: :mod:`.policy` (the GNN actor-critic, torch), :mod:`.ppo` (masked PPO),
:mod:`.checkpoint` (save/load with a fingerprint), :mod:`.trainer` (the training job),
:mod:`.proposer` (the solve-time proposer). Only ``trainer`` and ``proposer`` are loaded by
the service to validate specs, and they import torch only when they run.
"""
