"""Where mail comes in: IMAP mailboxes (polled) and the SMTP receiver (pushed)."""
