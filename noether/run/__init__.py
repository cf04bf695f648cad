"""Stage five: runs (GD, gradient flow, Bregman flow), driven by the generated kernels."""
