"""``python -m backbone``."""

from backbone.cli import main

main()
