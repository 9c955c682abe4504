"""The one error of the backup package: its message is Chinese and meant for the operator."""


class BackupError(Exception):
    """A backup or restore that could not be done; nothing was changed (the message says so where it matters)."""
