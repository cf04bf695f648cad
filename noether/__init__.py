"""noether: parameter-space symmetries of neural networks.

Pipeline, one direction: spec -> Model -> Derivation -> Kernels -> Run -> Report.
"""

__version__ = "0.1.0"
