"""Exceptions raised by spikebridge for expected failures (bad input, bad configuration).

The command-line interface turns these into one-line messages without a traceback.
"""


class SpikebridgeError(Exception):
    """Base class of every expected spikebridge failure."""


class SpikebridgeDataError(SpikebridgeError):
    """A recording could not be read or does not make sense; the message names the file and the problem."""


class SpikebridgeConfigError(SpikebridgeError):
    """A configuration value or command-line option is invalid; the message names it."""


class SpikebridgeProtocolError(SpikebridgeError):
    """An operation would break the leak-free protocol (for example scoring on training bins)."""
