"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class TuneloopError(Exception):
    """A problem with the user's input or the store, said in one clear sentence."""


def not_found(what: str, name: str, known: list[str], how_to_make: str) -> TuneloopError:
    """'no dataset 'v9'; there are v1, v2' — or how to make the first one."""
    return TuneloopError(f"no {what} {name!r}" + (f"; there are {', '.join(known)}" if known else f"; {how_to_make}"))


def one_line(exc: BaseException) -> str:
    """An unexpected error as one line that names its cause: DuckDB's layered messages ("Detached
    database …, but CHECKPOINT during DETACH failed … Original error: Could not write file …")
    are cut to the original error, and a failed write says the store could not be written."""
    text = str(exc)
    if "Original error:" in text:
        text = text.rsplit("Original error:", 1)[1]
    text = " ".join(text.split()).removeprefix("IO Error: ")
    if type(exc).__name__ == "IOException" or "Could not write" in text:
        return f"the store could not be written: {text[:300]} (is the disk full?)"
    if isinstance(exc, TuneloopError):   # already said for people: no class name in front
        return text[:300]
    return f"{type(exc).__name__}: {text[:300]}"


def interrupted(exc: BaseException) -> bool:
    """Whether an exception is a Ctrl-C, or what a Ctrl-C left behind: DuckDB turns one that lands
    inside a statement into its own (an interrupted statement, or the aborted transaction after
    it, which names the interrupt as its context), and bookkeeping after it can fail in turn."""
    import duckdb

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (duckdb.InterruptException, KeyboardInterrupt)) or (
                isinstance(exc, duckdb.Error) and "INTERRUPT" in str(exc).upper()):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
