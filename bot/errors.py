"""The one error root of guahao and its meaningful subclasses."""

from __future__ import annotations


class GuahaoError(Exception):
    """Base of every error guahao raises on purpose; its message is fit to show a user or operator."""


class ConfigError(GuahaoError):
    """The configuration is wrong: the message names the key and what is expected."""


class RedisUnavailableError(GuahaoError):
    """Redis could not be reached or the embedded server could not be started."""


class NotAvailableError(GuahaoError):
    """A command or feature that this build does not offer (yet)."""


class NotFoundError(GuahaoError):
    """The thing asked for (an appointment serial, a slot) does not exist."""


class InvalidRequestError(GuahaoError):
    """A request that is well-formed but cannot be done in the current state (e.g. check-in after a cancel)."""
