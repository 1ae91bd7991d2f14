"""The database objects behind full-text search, one dialect each; created by migration 0910.

Kept here rather than in the migration so the queries (``intake.review.search``) and the
schema are written from the same names. Both live outside the models' metadata: the ORM never
reads or writes them (PostgreSQL computes ``search_words``; SQLite's triggers fill its table).
"""

from __future__ import annotations

# PostgreSQL keeps a tsvector under 1 MB; a text is indexed up to this many characters.
INDEXED_CHARS = 200_000
CONFIG = "norwegian"
SUBMISSION_TEXT = (
    f"to_tsvector('{CONFIG}', left(coalesce(subject, '') || ' ' || coalesce(body_text, ''), {INDEXED_CHARS}))"
)
ATTACHMENT_TEXT = f"to_tsvector('{CONFIG}', left(coalesce(text, ''), {INDEXED_CHARS}))"
# The words are kept as a stored column beside each text: ranking reads them instead of parsing every
# matching text again, which is what makes a search for common words fast.
SUBMISSION_DOCUMENT = "submissions.search_words"
ATTACHMENT_DOCUMENT = "attachments.search_words"

POSTGRESQL_UP = (
    "ALTER TABLE submissions ADD COLUMN IF NOT EXISTS search_words tsvector "
    f"GENERATED ALWAYS AS ({SUBMISSION_TEXT}) STORED",
    "ALTER TABLE attachments ADD COLUMN IF NOT EXISTS search_words tsvector "
    f"GENERATED ALWAYS AS ({ATTACHMENT_TEXT}) STORED",
    "CREATE INDEX IF NOT EXISTS search_submissions_words ON submissions USING gin (search_words)",
    "CREATE INDEX IF NOT EXISTS search_attachments_words ON attachments USING gin (search_words)",
)
POSTGRESQL_DOWN = (
    "DROP INDEX IF EXISTS search_attachments_words",
    "DROP INDEX IF EXISTS search_submissions_words",
    "ALTER TABLE attachments DROP COLUMN IF EXISTS search_words",
    "ALTER TABLE submissions DROP COLUMN IF EXISTS search_words",
)

# One row per submission (attachment_id 0) and per attachment with text. unicode61 keeps æ, ø
# and å as letters of their own; the words are matched whole.
SQLITE_UP = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
    "body, submission_id UNINDEXED, attachment_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 0')",
    "INSERT INTO search_fts (rowid, body, submission_id, attachment_id) "
    "SELECT id * 2, coalesce(subject, '') || ' ' || coalesce(body_text, ''), id, 0 FROM submissions",
    "INSERT INTO search_fts (rowid, body, submission_id, attachment_id) "
    "SELECT id * 2 + 1, text, submission_id, id FROM attachments WHERE text IS NOT NULL",
    "CREATE TRIGGER IF NOT EXISTS search_submissions_insert AFTER INSERT ON submissions BEGIN "
    "INSERT INTO search_fts (rowid, body, submission_id, attachment_id) "
    "VALUES (new.id * 2, coalesce(new.subject, '') || ' ' || coalesce(new.body_text, ''), new.id, 0); END",
    "CREATE TRIGGER IF NOT EXISTS search_submissions_update AFTER UPDATE OF subject, body_text ON submissions BEGIN "
    "DELETE FROM search_fts WHERE rowid = old.id * 2; "
    "INSERT INTO search_fts (rowid, body, submission_id, attachment_id) "
    "VALUES (new.id * 2, coalesce(new.subject, '') || ' ' || coalesce(new.body_text, ''), new.id, 0); END",
    "CREATE TRIGGER IF NOT EXISTS search_submissions_delete AFTER DELETE ON submissions BEGIN "
    "DELETE FROM search_fts WHERE rowid = old.id * 2; END",
    "CREATE TRIGGER IF NOT EXISTS search_attachments_insert AFTER INSERT ON attachments "
    "WHEN new.text IS NOT NULL BEGIN "
    "INSERT INTO search_fts (rowid, body, submission_id, attachment_id) "
    "VALUES (new.id * 2 + 1, new.text, new.submission_id, new.id); END",
    "CREATE TRIGGER IF NOT EXISTS search_attachments_update AFTER UPDATE OF text ON attachments BEGIN "
    "DELETE FROM search_fts WHERE rowid = old.id * 2 + 1; "
    "INSERT INTO search_fts (rowid, body, submission_id, attachment_id) "
    "SELECT new.id * 2 + 1, new.text, new.submission_id, new.id WHERE new.text IS NOT NULL; END",
    "CREATE TRIGGER IF NOT EXISTS search_attachments_delete AFTER DELETE ON attachments BEGIN "
    "DELETE FROM search_fts WHERE rowid = old.id * 2 + 1; END",
)
SQLITE_DOWN = (
    *(f"DROP TRIGGER IF EXISTS search_{table}_{event}" for table in ("submissions", "attachments")
      for event in ("insert", "update", "delete")),
    "DROP TABLE IF EXISTS search_fts",
)
