"""The package version, in one place setuptools can read without importing torch."""

__version__ = "0.2.0.dev0"
