"""mf-parallel: Parallel plans, tensor-parallel layers, rank tables, the msrun launcher."""

__version__ = "0.1.0"
