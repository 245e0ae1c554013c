"""The learned layer: proposers that prune, warm-start or re-cost the solver's model.

Proposers that train networks import torch in their own modules; importing this package
imports nothing heavy.
"""
