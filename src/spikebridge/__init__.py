"""spikebridge: learn neural population activity and generate it across recordings and preparations.

Importing the package is light: only numpy is loaded. Torch, matplotlib, pynwb, spikeinterface
and ray are imported by the submodules that need them.
"""

from spikebridge.errors import (
    SpikebridgeConfigError,
    SpikebridgeDataError,
    SpikebridgeError,
    SpikebridgeProtocolError,
)

__version__ = "0.1.0"

__all__ = [
    "SpikebridgeConfigError",
    "SpikebridgeDataError",
    "SpikebridgeError",
    "SpikebridgeProtocolError",
    "__version__",
]
