"""The one exception type for user mistakes: the CLI prints its message and exits 1."""


class AbawError(Exception):
    """Bad input from the user (a file, a line, a key): the message names it and the fix."""
