"""ghosts-render: render an AI chat performance once into a static, offline-playable archive."""

__version__ = "0.1.0"
