"""The one kind of failure a command prints as one line (exit code 2) instead of a traceback: the user can fix
it (a missing dataset, a failed download, a bad argument), and the message says how."""

from __future__ import annotations


class UserError(Exception):
    """A failure whose message tells the user what to do; the CLI prints it as ``error: ...`` and exits 2."""
