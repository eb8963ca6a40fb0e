"""Files that hold other files: `.gz` (one data file), `.zip` (the data files in it) and `.xlsx`
(one sheet a part). Each part is imported as a source of its own, named `outer/part`, with the
guarantees and line numbers of a plain file: a compressed part is expanded into a temporary file
first (never past MAX_EXPANDED_BYTES: an archive that expands without end is refused), and a
sheet is read row by row, its rows numbered as the spreadsheet numbers them.
"""
from __future__ import annotations

import gzip
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from curate.ingest.textio import FileRefused, Item, excerpt, text_problem

ARCHIVES = (".gz", ".zip", ".xlsx")
MAX_EXPANDED_BYTES = 8 << 30   # a part larger than this once expanded is refused


@dataclass
class Part:
    name: str              # outer/part, the source's name
    path: Path             # the file to read: expanded, or the spreadsheet itself
    sheet: str | None = None


def is_archive(path: Path) -> bool:
    return path.suffix.lower() in ARCHIVES


def data_suffix(name: str, extensions) -> str | None:
    """The data file extension a (possibly compressed) name ends with, or None."""
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes and suffixes[-1] in extensions else None


@contextmanager
def parts(path: Path, label: str, extensions) -> Iterator[list[Part]]:
    """The data parts of an archive or spreadsheet, expanded into a temporary folder that is removed
    afterwards. A zip's members that are not data files (or are hidden, or folders) are passed over."""
    suffix = path.suffix.lower()
    with tempfile.TemporaryDirectory(prefix="tuneloop-archive-") as tmp:
        if suffix == ".xlsx":
            yield [Part(f"{label}/{sheet}", path, sheet) for sheet in sheets(path)]
        elif suffix == ".gz":
            inner = data_suffix(path.name, extensions)
            if inner is None:
                raise FileRefused(f"{path.name}: a compressed file must be a data file (.jsonl.gz, .csv.gz, …)")
            target = Path(tmp) / f"part{inner}"
            with gzip.open(path, "rb") as fh:
                _expand(fh, target, path.name)
            yield [Part(label, target)]
        else:
            yield list(_zip_parts(path, label, Path(tmp), extensions))


def _zip_parts(path: Path, label: str, tmp: Path, extensions) -> Iterator[Part]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise FileRefused(f"not a readable zip file: {exc}") from None
    with archive:
        for n, info in enumerate(archive.infolist()):
            member = PurePosixPath(info.filename)
            if info.is_dir() or any(p.startswith((".", "__MACOSX")) for p in member.parts):
                continue
            inner = data_suffix(member.name, extensions)
            if inner is None:
                continue
            target = tmp / f"part{n}{inner}"   # our name, never the member's path
            with archive.open(info) as fh:
                if member.suffix.lower() == ".gz":
                    fh = gzip.GzipFile(fileobj=fh)
                _expand(fh, target, f"{path.name}/{info.filename}")
            yield Part(f"{label}/{info.filename}", target)


def _expand(source, target: Path, name: str) -> None:
    written = 0
    with open(target, "wb") as out:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > MAX_EXPANDED_BYTES:
                raise FileRefused(f"{name} expands past {MAX_EXPANDED_BYTES >> 30} GiB; expand it yourself and"
                                  " import the files")
            out.write(chunk)


# --------------------------------------------------------------------------- spreadsheets
def sheets(path: Path) -> list[str]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a file that is not a workbook
        raise FileRefused(f"not a readable .xlsx workbook: {exc}") from None
    try:
        return [ws.title for ws in book.worksheets if ws.max_row and ws.max_row > 1]
    finally:
        book.close()


def read_sheet(path: Path, sheet: str) -> Iterator[Item]:
    """A sheet's rows under its first non-empty row (the header), each with its row number."""
    from openpyxl import load_workbook

    from curate.ingest.delimited import unique_header

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        header = None
        for n, row in enumerate(book[sheet].iter_rows(values_only=True), 1):
            cells = ["" if v is None else v for v in row]
            if not any(str(c).strip() for c in cells):
                continue
            if header is None:
                header = unique_header([str(c) for c in cells])
                continue
            record = dict(zip(header, cells))
            joined = " ".join(str(v) for v in cells)
            bad = text_problem(joined)
            yield Item(n, error=bad, excerpt=excerpt(joined)) if bad else Item(n, record)
        if header is None:
            raise FileRefused(f"sheet {sheet!r} is empty")
    finally:
        book.close()
