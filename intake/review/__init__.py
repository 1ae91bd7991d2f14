"""What staff see and decide: the queries the CLI, API and web share, and the audited staff actions."""
