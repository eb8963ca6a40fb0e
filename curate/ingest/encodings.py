"""A file's encoding, decided on the whole file rather than its first bytes.

A wrong guess would store every accented row garbled with no reject, so the decision reads the
whole file block by block and prefers rejecting a line over storing mojibake:

- a byte-order mark names the encoding; NUL bytes in every other (or every fourth) position are
  UTF-16 (UTF-32) without one;
- a file that is valid UTF-8 throughout is UTF-8;
- otherwise the lines that are not UTF-8 are decoded with each candidate code page, and each
  decoding is scored by how well its letters fit one language written in that code page (Turkish
  in cp1254 reads as Turkish letters; read as cp1252 it becomes Icelandic ð, þ and ý among
  French é and German ü, which no one language writes). The best code page is used when its
  score is high — for the whole file when it has no valid UTF-8 multi-byte sequence (a file in a
  code page, not a damaged UTF-8 file), for the non-UTF-8 lines alone when it has some (a file
  pasted together from two sources) and at least MIN_OTHER_LINES of them. Bytes that read as no
  language in any candidate are damage: their lines are rejected, naming the byte.

The decision is a label: `utf-8`, a codec name, or `utf-8+cp1252` (UTF-8 lines as UTF-8, the
others as cp1252). `--encoding` overrides it.
"""
from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from curate.errors import TuneloopError

BLOCK = 1 << 20                # the file is read this much at a time
SAMPLE_BYTES = 1 << 20         # at most this much of the non-UTF-8 lines is scored
MIN_OTHER_LINES = 3            # a UTF-8 file needs this many non-UTF-8 lines before they are read as a code page
MIN_SCORE = 0.9                # a decoding whose letters fit one language at least this well is text

# Single-byte code pages, most common first (ties go to the earlier one), and multi-byte ones.
CODE_PAGES = ("cp1252", "cp1250", "cp1254", "cp1257", "cp1251", "cp1253", "iso8859_2", "koi8_r", "cp1255", "cp1256")
MULTI_BYTE = ("cp932", "cp949", "gb18030", "big5", "euc_jp")

# Letters beyond ASCII that each language writes (lower case), and the code pages it is written in.
# Western European files mix their languages' letters (names, loanwords: an English FAQ writes
# café, naïve and señor), so they are one set; Icelandic's ð, þ and ý stand apart, because they are
# what Turkish letters become in the wrong code page (and Turkish files are far more common).
# Central European languages stay apart: together they would read Turkish in cp1250 (ţ, ý, đ).
_WESTERN = ("cp1252",)
_CENTRAL = ("cp1250", "iso8859_2")
LANGUAGES: dict[str, tuple[tuple[str, ...], str]] = {
    # French, German, Spanish, Portuguese, Italian, Dutch, Scandinavian, Catalan, Finnish, English loanwords
    "Western European": (_WESTERN, "àâæçéèêëîïôœùûüÿäößáíñóúãõìòåø"),
    "Icelandic": (_WESTERN, "áðéíóúýþæö"),
    "Polish": (_CENTRAL, "ąćęłńóśźż"),
    "Czech": (_CENTRAL, "áčďéěíňóřšťúůýž"),
    "Slovak": (_CENTRAL, "áäčďéíĺľňóôŕšťúýž"),
    "Hungarian": (_CENTRAL, "áéíóöőúüű"),
    "Romanian": (_CENTRAL, "ăâîşţșț"),
    "Croatian": (_CENTRAL, "čćđšž"),
    "Turkish": (("cp1254",), "çğıöşüâîû"),
    "Lithuanian": (("cp1257",), "ąčęėįšųūž"),
    "Latvian": (("cp1257",), "āčēģīķļņšūž"),
    "Estonian": (("cp1257",), "äõöüšž"),
    "Russian": (("cp1251", "koi8_r"), "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"),
    "Ukrainian": (("cp1251",), "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя"),
    "Bulgarian": (("cp1251",), "абвгдежзийклмнопрстуфхцчшщъьюя"),
    "Serbian": (("cp1251",), "абвгдђежзијклљмнњопрстћуфхцчџш"),
    "Greek": (("cp1253",), "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώϊϋΐΰς"),
    "Hebrew": (("cp1255",), "אבגדהוזחטיכךלמםנןסעפףצץקרשת"),
    "Arabic": (("cp1256",), "ءآأؤإئابةتثجحخدذرزسشصضطظعغفقكلمنهوىي"),
}
# A reading as Icelandic counts a little less: the same bytes are far more often Turkish.
PRIOR = {"Icelandic": 0.95}
# The ten most frequent letters of the scripts whose code pages all decode to letters (Cyrillic read
# as Greek or koi8 read as cp1251 is letters too): real text has most of its letters among them.
TOP_LETTERS = {"cp1251": "оеаинтсрвл", "koi8_r": "оеаинтсрвл", "cp1253": "αοιετσνηυρ"}
# Typographic marks every language uses: they neither help nor hurt a decoding.
NEUTRAL = set("’‘“”„–—…€£°·×«»¿¡§©®™\u00a0•")


@dataclass(frozen=True)
class Decision:
    label: str     # what iter_lines decodes with: utf-8, a codec, or utf-8+CODEC
    why: str       # one line for the import's summary


def check(name: str) -> str:
    """An --encoding the user gave, as a codec name Python knows; a clear error otherwise."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise TuneloopError(f"--encoding {name!r}: not an encoding Python knows (e.g. utf-8, cp1252, cp1254,"
                            " shift_jis, utf-16)") from None


def decide(path: Path, override: str | None = None) -> Decision:
    """The encoding to read `path` with (see the module docstring)."""
    if override:
        return Decision(check(override), "as given (--encoding)")
    with open(path, "rb") as fh:
        head = fh.read(BLOCK)
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                      (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if head.startswith(bom):
            return Decision(name, "byte-order mark")
    wide = _wide_without_bom(head)
    if wide:
        return Decision(wide, "NUL bytes between the characters: UTF-16/32 without a byte-order mark")
    multi_byte, other_lines, sample = _scan(path)
    if not other_lines:
        return Decision("utf-8", "valid UTF-8")
    best, score = best_code_page(sample)
    if multi_byte:
        if best and score >= MIN_SCORE and other_lines >= MIN_OTHER_LINES:
            return Decision(f"utf-8+{best}", f"UTF-8, and {other_lines} lines in {best}")
        return Decision("utf-8", f"UTF-8 with {other_lines} damaged line(s), rejected")
    if best and score >= MIN_SCORE:
        return Decision(best, f"no UTF-8 sequence and {other_lines} lines in {best}")
    return Decision("utf-8", f"{other_lines} line(s) of bytes that read as no language, rejected")


def _wide_without_bom(head: bytes) -> str | None:
    """utf-16-le/-be or utf-32-le/-be when ASCII-heavy text shows NULs in the high bytes."""
    sample = head[: 1 << 16]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return None
    for width, names in ((4, ("utf-32-le", "utf-32-be")), (2, ("utf-16-le", "utf-16-be"))):
        cut = sample[: len(sample) // width * width]
        lanes = [cut[i::width] for i in range(width)]
        zero = [lane.count(0) / max(len(lane), 1) for lane in lanes]
        little = zero[0] < 0.1 and all(z > 0.6 for z in zero[1:])
        big = zero[-1] < 0.1 and all(z > 0.6 for z in zero[:-1])
        for ok, name in ((little, names[0]), (big, names[1])):
            if ok:
                try:
                    cut.decode(name)
                except UnicodeDecodeError:
                    continue
                return name
    return None


def _scan(path: Path) -> tuple[bool, int, bytes]:
    """(whether any valid UTF-8 multi-byte sequence occurs, how many lines are not UTF-8, a sample of
    those lines) over the whole file. Blocks that decode whole are passed over quickly."""
    multi_byte, other, sample, rest = False, 0, bytearray(), b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(BLOCK)
            data = rest + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0 and block:
                rest = data
                continue
            data, rest = data[:cut], data[cut:]
            if not data.isascii():
                try:
                    data.decode("utf-8")
                    multi_byte = True
                except UnicodeDecodeError:
                    for line in data.split(b"\n"):
                        if line.isascii():
                            continue
                        try:
                            line.decode("utf-8")
                            multi_byte = True
                        except UnicodeDecodeError:
                            other += 1
                            if len(sample) < SAMPLE_BYTES:
                                sample += line + b"\n"
            if not block:
                return multi_byte, other, bytes(sample)


def best_code_page(sample: bytes) -> tuple[str | None, float]:
    """The code page whose decoding of the sample reads most like one language, and its score:
    the fit of its letters (_fit); between fits within 0.05 of each other, the one whose letters
    are most often its script's most frequent ones (Greek read as cp1251 is Cyrillic letters too,
    in a Greek order); then the earlier code page."""
    ranked = []
    for order, name in enumerate(CODE_PAGES + MULTI_BYTE):
        try:
            text = sample.decode(name)
        except UnicodeDecodeError:
            continue
        fit = _fit(text, name)
        if fit >= MIN_SCORE - 0.1:
            ranked.append((round(fit * 20) / 20, _frequent_share(text, name), -order, name, fit))
    if not ranked:
        return None, 0.0
    *_, name, fit = max(ranked)
    return name, fit


def _fit(text: str, codec: str) -> float:
    """How well the text's non-ASCII characters fit the best language written in `codec` (0–1): a
    character counts when it is a letter of that language and, unless it is a Latin letter, does
    not stand inside a word of ASCII letters (Latin text read as cp1251 is all Cyrillic letters,
    each beside Latin ones)."""
    at = [i for i, c in enumerate(text) if ord(c) > 127 and c not in NEUTRAL]
    if not at:
        return 0.0
    if codec in MULTI_BYTE:
        return _fit_cjk([text[i] for i in at], codec)
    fits_script = [(_latin(text[i]) or not (_ascii_letter(text, i - 1) or _ascii_letter(text, i + 1)))
                   and not _capital_inside_a_word(text, i) for i in at]
    lowered = [text[i].lower() for i in at]
    scores = [sum(ok and c in letters for c, ok in zip(lowered, fits_script)) / len(at) * PRIOR.get(language, 1.0)
              for language, (pages, letters) in LANGUAGES.items()
              if codec in pages or (codec == "cp1254" and pages == _WESTERN)]
    return max(scores, default=0.0)


def _frequent_share(text: str, codec: str) -> float:
    """The share of the text's non-ASCII letters that are its script's ten most frequent (0 where
    the code page's script has none listed: Latin text is told apart by _fit)."""
    top = TOP_LETTERS.get(codec)
    letters = [c.lower() for c in text if ord(c) > 127 and c.isalpha()]
    return sum(c in top for c in letters) / len(letters) if top and letters else 0.0


def _latin(c: str) -> bool:
    return unicodedata.name(c, "").startswith("LATIN")


def _capital_inside_a_word(text: str, i: int) -> bool:
    """A capital after a small letter ("yardÝm", koi8 read as cp1251: "зДЕ"): not how words are written."""
    return text[i].isupper() and i > 0 and text[i - 1].islower()


def _ascii_letter(text: str, i: int) -> bool:
    return 0 <= i < len(text) and text[i].isascii() and text[i].isalpha()


def _fit_cjk(chars: list[str], codec: str) -> float:
    """The share of characters in the scripts a multi-byte code page's language writes: Japanese
    with kana (a text without kana is not Japanese), Korean mostly in Hangul, Chinese in Han."""
    def script(c: str) -> str:
        name = unicodedata.name(c, "")
        if "HIRAGANA" in name or "KATAKANA" in name:
            return "kana"
        if name.startswith("HANGUL"):
            return "hangul"
        if name.startswith("CJK UNIFIED") or name.startswith("CJK COMPATIBILITY IDEOGRAPH"):
            return "han"
        if name.startswith(("CJK SYMBOLS", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH", "LEFT CORNER", "RIGHT CORNER")) \
                or c in "、。「」『』ー・！？（）":
            return "punct"
        return "other"
    counts: dict[str, int] = {}
    for c in chars:
        counts[script(c)] = counts.get(script(c), 0) + 1
    n = len(chars)
    share = {k: v / n for k, v in counts.items()}
    if codec in ("cp932", "euc_jp"):
        if share.get("kana", 0) < 0.1:
            return 0.0
        return share.get("kana", 0) + share.get("han", 0) + share.get("punct", 0)
    if codec == "cp949":
        return share.get("hangul", 0) + share.get("punct", 0) if share.get("hangul", 0) >= 0.5 else 0.0
    return share.get("han", 0) + share.get("punct", 0)   # gb18030, big5
