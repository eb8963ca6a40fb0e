"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class TuneloopError(Exception):
    """A problem with the user's input or the store, said in one clear sentence."""


def not_found(what: str, name: str, known: list[str], how_to_make: str) -> TuneloopError:
    """'no dataset 'v9'; there are v1, v2' — or how to make the first one."""
    return TuneloopError(f"no {what} {name!r}" + (f"; there are {', '.join(known)}" if known else f"; {how_to_make}"))
