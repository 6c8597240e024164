"""Errors meant for people: the CLI prints the message (no traceback) and exits with status 2."""


class HpsearchError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""
