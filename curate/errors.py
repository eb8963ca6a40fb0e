"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class TuneloopError(Exception):
    """A problem with the user's input or the store, said in one clear sentence."""
