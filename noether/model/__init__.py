"""Stage one: the model.  Importing this package registers the built-in layer types."""

from .activation import Activation
from .layer import Block, Layer
from .linear import Linear
from .loss import MSE, Loss
from .model import Model

__all__ = ["Activation", "Block", "Layer", "Linear", "Loss", "MSE", "Model"]
