"""``python -m intake`` is the same as the ``intake`` command."""

from intake.cli import main

main()
