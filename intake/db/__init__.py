"""The database: engine and sessions, tables, migrations, cross-process locks and the audit log."""
