"""designsvc: AI-guided combinatorial design optimization as a service."""

__all__ = ["__version__"]

__version__ = "0.1.0"
