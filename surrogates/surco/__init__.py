"""``surco-zero``, ``surco-prior``, ``surco-hybrid``: SurCo (Ferber et al., ICML 2023) for
problem kinds with a linear-surrogate interface (:mod:`designsvc.core.surrogate`): learn the
costs ``c`` of a linear objective so that the solver's answer ``argmin <c, x>`` over the
kind's feasible set is good for the true, nonlinear objective; the solver finalizes.

Modules: :mod:`.zero` (per-instance gradient steps through the solver, numpy only),
:mod:`.prior` (the cost-predicting network, torch), :mod:`.checkpoint` (save/load with a
fingerprint), :mod:`.trainer` (the training job of the prior), :mod:`.proposer` (the three
proposers). ``trainer`` and ``proposer`` import torch only when they run.
"""
