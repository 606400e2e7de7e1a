"""Run the command line: ``python -m ghosts_render``."""

from ghosts_render.cli import main

main()
