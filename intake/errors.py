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


class DeliveryError(IntakeError):
    """A receipt could not be handed to the mail server; ``reply`` is the server's answer, if any."""

    def __init__(self, message: str, reply: str | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class TemporaryDeliveryError(DeliveryError, TemporaryError):
    """The server answered 4xx or the connection failed before the message was complete: try later."""


class PermanentDeliveryError(DeliveryError, PermanentError):
    """The server answered 5xx: this receipt will never be accepted as it is."""


class TransportUnavailable(DeliveryError, TemporaryError):
    """No connection to the mail server at all; no receipt was touched."""


class NoFinalReply(TemporaryDeliveryError):
    """The server closed the connection after the end of data without a reply.

    Without a 250 the server has not taken responsibility for the message (RFC 5321
    §4.1.1.4, §6.1), so the receipt is sent again, with the same Message-ID, which lets
    a receiving system recognise a copy if the server delivered it after all.
    """


class RelayRefused(TransportUnavailable):
    """The mail server refused to relay at all (TLS required, relay access denied, login required).

    The refusal concerns the connection to the relay, not the receipt: every other receipt
    would be refused the same way, so the run stops and the receipts stay due.
    """


class UnconfirmedDelivery(DeliveryError):
    """The whole message was handed over but the server's answer was lost; it may have been delivered."""


class TemplateError(PermanentError):
    """A receipt template is missing or refers to something the context does not have."""


class ExtractorUnavailable(TemporaryError):
    """No extraction worker process could be started."""


class ExtractionInterrupted(TemporaryError):
    """Extraction was stopped because the service is shutting down; the message is processed on the next start."""
