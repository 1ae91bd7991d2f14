"""Decide what a message is: its case (subject, body, attachments, thread), who sent it, and its flags."""
