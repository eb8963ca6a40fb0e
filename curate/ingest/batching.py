"""The import's records on their way to the store: read ahead in a thread of their own, and cut
into batches. A batch is one transaction (curate.ingest) and, while nobody else waits for the
store, one of many written in one turn at it (curate.store.Hold): at most BATCH_SIZE records, or
what was read in BATCH_SECONDS when reading is slower, so that a slow import still commits (and
can be resumed) regularly. Measured with benchmarks/ingest.py and, beside raters, benchmarks/load.py.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator

import pyarrow as pa

BATCH_SIZE, BATCH_SECONDS = 10_000, 1.0


class ReadAhead:
    """The pieces, read and normalized in a thread of their own while the batch before is written
    (both mostly run in DuckDB and pyarrow, which let go of the GIL). A few wait unread at most."""
    _END = object()

    def __init__(self, pieces: Iterator[pa.Table | str]):
        self._pieces = pieces
        self._waiting: queue.Queue = queue.Queue(maxsize=4)
        self._rows, self._counting = 0, threading.Lock()   # rows waiting unread
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name="tuneloop-ingest-read", daemon=True)

    def rows_waiting(self) -> int:
        return self._rows

    def finished(self) -> bool:
        """Whether everything is read (or reading failed)."""
        return not self._reader.is_alive()

    def __iter__(self) -> Iterator[pa.Table | str]:
        self._reader.start()   # here, so that a reader is never left running without one to read it
        try:
            while (piece := self._waiting.get()) is not self._END:
                if isinstance(piece, BaseException):
                    raise piece
                if isinstance(piece, pa.Table):
                    with self._counting:
                        self._rows -= piece.num_rows
                yield piece
        finally:
            self._stop.set()
            self._reader.join()

    def _offer(self, piece) -> bool:
        with self._counting:
            self._rows += piece.num_rows if isinstance(piece, pa.Table) else 0
        while not self._stop.is_set():
            try:
                self._waiting.put(piece, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for piece in self._pieces:
                if not self._offer(piece):
                    return
            self._offer(self._END)
        except BaseException as exc:  # noqa: BLE001 - handed to the reading side, raised there
            self._offer(exc)
        finally:
            getattr(self._pieces, "close", lambda: None)()


class Batches:
    """Rows in batches of `size`, or fewer when reading them took BATCH_SECONDS; the first `skip`
    records (imported before an interruption) left out; notices go to `notes`."""

    def __init__(self, pieces: Iterable[pa.Table | str], skip: int, size: int, notes: list):
        self.pieces, self.skip, self.size, self.notes = pieces, skip, size, notes
        self.count = 0   # rows read and not yet in a batch

    def next_ready(self) -> bool:
        """Whether the next batch is read already (or there is none)."""
        reading = self.pieces if isinstance(self.pieces, ReadAhead) else None
        return reading is None or reading.finished() or self.count + reading.rows_waiting() >= self.size

    def __iter__(self) -> Iterator[pa.Table]:
        held: list[pa.Table] = []
        started, skip, size = time.monotonic(), self.skip, self.size
        for piece in self.pieces:
            if isinstance(piece, str):
                self.notes.append(piece)
                continue
            if skip:
                cut = min(skip, piece.num_rows)
                piece, skip = piece.slice(cut), skip - cut
            if piece.num_rows:
                held.append(piece)
                self.count += piece.num_rows
            while self.count >= size or (self.count and time.monotonic() - started >= BATCH_SECONDS):
                rows = pa.concat_tables(held)
                held = [rows.slice(size)] if rows.num_rows > size else []
                self.count, started = max(0, rows.num_rows - size), time.monotonic()
                yield rows.slice(0, size)
        if self.count:
            self.count = 0
            yield pa.concat_tables(held)
