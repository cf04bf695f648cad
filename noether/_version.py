"""The package version, below every layer (kernels hash it into their cache key)."""

__version__ = "0.1.0"
