"""The domain errors: every one carries a message a person can act on (what, where, what to do)."""


class GhostsError(Exception):
    """A problem the user can fix; the CLI prints its message on one line and exits 1."""


class ConfigError(GhostsError):
    """The configuration (file or options) is invalid; the message lists every problem."""


class ModelLoadError(GhostsError):
    """A model (text, selfie network) could not be found, read or trusted."""


class StageError(GhostsError):
    """A render stage could not do its work with the given models and inputs."""


class ArchiveError(GhostsError):
    """An archive on disk is missing, damaged or would be overwritten unsafely."""


class CurationError(GhostsError):
    """A curation step (edit, delete, re-roll, pick, undo) cannot be made as asked."""
