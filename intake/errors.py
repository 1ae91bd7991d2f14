"""The project's own small exception hierarchy.

Library errors are wrapped at the edges (``raise ... from err``) so that callers
only need to know these. Temporary and permanent failures are kept apart: a
temporary one is retried later, a permanent one is recorded and parked.
"""


class IntakeError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(IntakeError):
    """The configuration is missing, unreadable or invalid; the message is one line."""


class WorkflowError(IntakeError):
    """A workflow file is invalid; the message names the file and the line."""


class StorageError(IntakeError):
    """The raw store could not write or read a blob."""


class TemporaryError(IntakeError):
    """Something that may work on a later attempt (network, server busy)."""


class PermanentError(IntakeError):
    """Something that will not work however often it is tried."""


class SourceUnavailable(TemporaryError):
    """A mailbox or receiver could not be reached."""


class DatabaseUnavailable(TemporaryError):
    """The database could not be reached."""


class TokenUnavailable(SourceUnavailable):
    """An XOAUTH2 access token could not be read or refreshed; the mailbox cannot log in."""


class ExtractionFailed(PermanentError):
    """An attachment could not be read; the message is the short reason shown to staff."""


class ExtractorUnavailable(TemporaryError):
    """No extraction worker process could be started."""
