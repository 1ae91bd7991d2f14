"""The ``intake`` command and its subcommands (CONTRACT.md fixes their names and output)."""
