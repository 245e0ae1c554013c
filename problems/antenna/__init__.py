"""``antenna@1``: design a wire antenna (a three-branch bent monopole or a meander-line
monopole over a perfect ground plane) whose NEC2-simulated ``|S11|`` meets pass and reject
bands, within a design space of linear rules (wire lengths, spacing, bounding box).

Licensing: the simulator is NEC2 through the Python package ``necpp`` (GPL-3.0), the
optional extra ``nec`` of this Apache-2.0 project, installed by the default setup
(``make setup``); this package only calls it, importing it inside functions
(:mod:`problems.antenna.nec`), and says how to install it when it is missing. scikit-rf
(BSD-3) writes Touchstone files.

Importing this package loads Pyomo but neither necpp, scikit-rf nor matplotlib. For
surrogate training see :mod:`problems.antenna.dataset` (``generate_dataset``, ``simulate``).
"""

from problems.antenna.families import DesignSpace, Family, design_space, param_names
from problems.antenna.problem import AntennaProblem
from problems.antenna.schema import AntennaInstance, Sweep

__all__ = ["AntennaInstance", "AntennaProblem", "DesignSpace", "Family", "Sweep", "design_space", "param_names"]
