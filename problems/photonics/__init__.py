"""``photonics@1``: inverse design of a planar photonic device (the ceviche-challenges
waveguide bend, mode converter, beam splitter and WDM) that meets its transmission spec
under a foundry's minimum feature size, stated as a brush rule over the design pixels.
Importing this package loads Pyomo but neither ceviche nor a plotting library.
"""

from problems.photonics.problem import PhotonicsProblem
from problems.photonics.schema import PhotonicsInstance

__all__ = ["PhotonicsInstance", "PhotonicsProblem"]
