"""Stage one: the model.  Importing this package registers the built-in layer types."""

from .activation import Activation
from .layer import Block, Layer
from .linear import Linear
from .loss import MSE, CrossEntropy, Loss
from .model import Model
from .layernorm import LayerNorm
from .radial import Radial
from .rmsnorm import RMSNorm
from .glu import GLU
from .conv1d import Conv1d
from .user import UserLayer, user_layer
from .attention import Attention
from .residual import Residual
from .batchnorm import BatchNorm
from .figlu import FiGLU
from .wlinear import WAsymLinear
from .conv2d import Conv2d
from .pool2d import AvgPool2d, MaxPool2d
from .flatten import Flatten

__all__ = [
    "Activation",
    "Block",
    "Layer",
    "Linear",
    "Loss",
    "MSE",
    "Model",
    "CrossEntropy",
    "LayerNorm",
    "RMSNorm",
    "Radial",
    "GLU",
    "Conv1d",
    "UserLayer",
    "user_layer",
    "Attention",
    "Residual",
    "BatchNorm",
    "FiGLU",
    "WAsymLinear",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "Flatten",
]
