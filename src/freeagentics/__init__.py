"""FreeAgentics: populations of discrete Active Inference agents, served in production."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("freeagentics")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
