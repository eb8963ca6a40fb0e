"""Reading a file in the encoding it was written in: tuneloop's whole-file decision
(curate/ingest/encodings.py) against charset-normalizer (the detector requests uses), on the same
support-log files in one run.

Each case is a JSON-lines or CSV file of questions and answers written in one encoding — or pasted
together from two — with the rows known. A detector's answer is used to decode the file (for
tuneloop: as the import does, line by line; for charset-normalizer: its best guess for the whole
file), and a row counts as read only when its text comes back exactly. A row stored garbled is the
loss that no reject reports.

    .venv/bin/python benchmarks/encodings.py

Prints, per case, the encoding each chose and the rows each read right; then the totals, and the
seconds each took, with the ratios.
"""
from __future__ import annotations

import csv
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Questions and answers written for this benchmark, in the languages whose code pages are common.
TEXTS = {
    "French": [("Où est ma commande ?", "Elle arrive demain ; la livraison est gratuite dès 50 €."),
               ("Comment changer mon mot de passe ?", "Allez dans Réglages, puis Sécurité, et choisissez « Modifier »."),
               ("Puis-je être remboursé ?", "Oui, sous quatorze jours, si l'article n'a pas été utilisé.")],
    "German": [("Wie ändere ich meine Adresse?", "Unter Konto, Adressen können Sie sie ändern; für Bestellungen gilt"
                " die Änderung ab sofort."),
               ("Wann kommt mein Paket?", "In zwei Werktagen; Größe und Gewicht spielen keine Rolle."),
               ("Kann ich zurückgeben?", "Ja, innerhalb von 30 Tagen, außer bei Maßanfertigungen.")],
    "Turkish": [("Şifremi nasıl değiştirebilirim?", "Ayarlar sayfasından şifrenizi değiştirebilirsiniz."),
                ("Siparişim ne zaman gelecek?", "Siparişiniz üç iş günü içinde ulaşır."),
                ("İade politikası nedir?", "Ürünü on dört gün içinde iade edebilirsiniz.")],
    "Polish": [("Jak zmienić hasło?", "Wejdź w ustawienia i wybierz zmianę hasła."),
               ("Gdzie jest moja przesyłka?", "Przesyłka dotrze w ciągu dwóch dni."),
               ("Czy mogę zwrócić towar?", "Tak; w ciągu czternastu dni od zakupu.")],
    "Czech": [("Jak změním heslo?", "V nastavení účtu zvolte Změnit heslo."),
              ("Kdy dorazí zásilka?", "Zásilka dorazí do tří pracovních dnů."),
              ("Mohu zboží vrátit?", "Ano, do čtrnácti dnů od převzetí.")],
    "Russian": [("Как изменить пароль?", "Откройте настройки и выберите 'Сменить пароль'."),
                ("Где мой заказ?", "Заказ придёт в течение трёх рабочих дней."),
                ("Можно ли вернуть товар?", "Да, в течение четырнадцати дней.")],
    "Greek": [("Πώς αλλάζω τον κωδικό μου;", "Από τις ρυθμίσεις, επιλέξτε «Αλλαγή κωδικού»."),
              ("Πότε θα έρθει η παραγγελία;", "Μέσα σε τρεις εργάσιμες ημέρες."),
              ("Μπορώ να επιστρέψω ένα προϊόν;", "Ναι, μέσα σε δεκατέσσερις ημέρες.")],
    "English": [("Where is the café desk?", "Next to the résumé counter, by the naïve art wall."),
                ("How do I reset the lamp?", "Hold the button for ten seconds."),
                ("Can I pay later?", "Yes, within 30 days of the invoice.")],
}
ENGLISH_PLAIN = [(f"How do I reset device {i}?", f"Hold the button for {i % 9 + 2} seconds.") for i in range(200)]


def rows_of(language: str, copies: int) -> list[tuple[str, str]]:
    return [(f"{q} ({i})", a) for i in range(copies) for q, a in TEXTS[language]]


def jsonl(rows) -> str:
    return "".join(json.dumps({"question": q, "answer": a}, ensure_ascii=False) + "\n" for q, a in rows)


def csv_text(rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["question", "answer"])
    writer.writerows(rows)
    return out.getvalue()


def cases() -> list[tuple[str, str, bytes, list]]:
    """(name, container, bytes, rows)."""
    out = []
    for language, encoding in (("French", "cp1252"), ("German", "cp1252"), ("Turkish", "cp1254"),
                               ("Polish", "cp1250"), ("Czech", "cp1250"), ("Russian", "cp1251"),
                               ("Russian", "koi8_r"), ("Greek", "cp1253")):
        for copies in (2, 40):
            rows = rows_of(language, copies)
            out.append((f"{language} in {encoding}, {len(rows)} rows", "jsonl", jsonl(rows).encode(encoding), rows))
    accented = ENGLISH_PLAIN + rows_of("English", 1)[:1]
    out.append(("English with one accented row, latin-1 CSV", "csv", csv_text(accented).encode("latin-1"), accented))
    for language, encoding in (("French", "cp1252"), ("Turkish", "cp1254")):
        first, second = rows_of(language, 20), [(f"{q} (b{i})", a) for i in range(30) for q, a in TEXTS[language]]
        data = jsonl(first).encode("utf-8") + jsonl(second).encode(encoding)
        out.append((f"{language}: UTF-8 lines, then {encoding} lines", "jsonl", data, first + second))
    rows = rows_of("German", 20)
    out.append(("German in UTF-16 without a byte-order mark", "jsonl", jsonl(rows).encode("utf-16-le"), rows))
    rows = rows_of("French", 20)
    out.append(("French in UTF-8", "jsonl", jsonl(rows).encode("utf-8"), rows))
    return out


def parse(text: str, container: str) -> list[tuple[str, str]]:
    if container == "csv":
        return [(r["question"], r["answer"]) for r in csv.DictReader(io.StringIO(text))]
    out = []
    for line in text.split("\n"):
        try:
            record = json.loads(line)
            out.append((record["question"], record["answer"]))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def tuneloop_read(path: Path, container: str) -> tuple[str, list]:
    from curate.ingest.encodings import decide
    from curate.ingest.textio import decode_all

    label = decide(path).label
    return label, parse(decode_all(path.read_bytes(), label), container)


def charset_normalizer_read(path: Path, container: str) -> tuple[str, list]:
    from charset_normalizer import from_bytes

    data = path.read_bytes()
    best = from_bytes(data).best()
    if best is None:
        return "(none)", []
    return best.encoding, parse(data.decode(best.encoding, "replace"), container)


def main() -> None:
    import charset_normalizer  # noqa: F401  (both imported before the clock starts)

    import curate.ingest.textio  # noqa: F401

    results = {"tuneloop": [0, 0.0], "charset-normalizer": [0, 0.0]}
    total = 0
    print(f"{'case':<48} {'tuneloop':>22} {'charset-normalizer':>22}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, container, data, rows in cases():
            path = Path(tmp) / f"case.{container}"
            path.write_bytes(data)
            total += len(rows)
            cells = []
            for who, read in (("tuneloop", tuneloop_read), ("charset-normalizer", charset_normalizer_read)):
                start = time.perf_counter()
                label, got = read(path, container)
                results[who][1] += time.perf_counter() - start
                right = sum(1 for a, b in zip(got, rows) if a == b) if len(got) == len(rows) else \
                    len(set(got) & set(rows))
                results[who][0] += right
                cells.append(f"{label[:12]:>12} {right:>4}/{len(rows):<4}")
            print(f"{name:<48} {cells[0]:>22} {cells[1]:>22}")
    ours, peer = results["tuneloop"], results["charset-normalizer"]
    print(f"\nrows read right: tuneloop {ours[0]}/{total} ({100 * ours[0] / total:.1f}%),"
          f" charset-normalizer {peer[0]}/{total} ({100 * peer[0] / total:.1f}%)")
    print(f"seconds: tuneloop {ours[1]:.3f}, charset-normalizer {peer[1]:.3f}"
          f" (charset-normalizer / tuneloop = {peer[1] / max(ours[1], 1e-9):.2f}x)")


if __name__ == "__main__":
    main()
