"""PyTorch bridge (optional extra ``noether-symmetry[torch]``): import your own ``nn.Module`` as a
noether :class:`~noether.Model`, map parameters both ways, and monitor the derived charges and
per-step laws on your own training loop.  Nothing in the core imports this package or torch."""

from .importer import BatchNorm1d, BatchNorm2d, Residual, SelfAttention, from_module, from_state_dict, to_state_dict
from .monitor import Monitor

__all__ = ["BatchNorm1d", "BatchNorm2d", "Monitor", "Residual", "SelfAttention", "from_module", "from_state_dict", "to_state_dict"]
