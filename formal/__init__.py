"""Formal proofs with SymbiYosys on small generated instances (``make formal``, ``python -m pbitgen.formal``).

Harnesses wrap the real generated components with Amaranth ``Assert``/``Assume``/``Cover``:
:mod:`.bus` (a) the AXI4-Lite subordinate alone and behind the lattice register map, :mod:`.controller`
(c) the lattice controller's schedule, :mod:`.datapath` (b) the widths of a unit's update path;
:mod:`.tasks` lists what ``make formal`` runs and :mod:`.runner` writes the .sby files and runs them.
"""
