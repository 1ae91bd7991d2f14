"""The TLS context for outgoing connections (IMAP, SMTP), built once per process.

Loading the system's certificates takes tens of milliseconds, and a poll or a
receipt delivery connects every few seconds.
"""

from __future__ import annotations

import ssl
from functools import cache


@cache
def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """The default context, trusting ``cafile`` instead of the system's certificates when given."""
    return ssl.create_default_context(cafile=cafile)
