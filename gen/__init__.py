"""Amaranth generator: model to synthesizable Verilog (see the generator issue)."""
