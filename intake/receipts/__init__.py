"""Receipts: planned with the submission, rendered from templates, composed, and delivered by the outbox."""
