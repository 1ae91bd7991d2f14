"""``python -m intake`` is the same as the ``intake`` command."""

from intake.cli.main import main

main()
