"""``python -m notify``."""

from notify.cli import main

main()
