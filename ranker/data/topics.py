"""A TREC collection's topics (its queries), in the three shapes they are published in:

- `xml`: NIST's topics XML (TREC-COVID, TREC 2009+): `<topic number="1">` with child
  elements such as `<query>`, `<question>`, `<narrative>`;
- `trec`: the classic SGML of the ad hoc tracks (Robust04, TREC 1-8): `<top>` blocks with
  `<num> Number: 301`, `<title>`, `<desc> Description:`, `<narr> Narrative:`, no closing tags;
- `tsv`: one `id<TAB>text` a line, no header (MS MARCO's and TREC DL's queries).

`data.query_field` picks the text of a structured topic: one field, or several joined by `+`
(`query+question`); `both` is TREC-COVID's `query+question`.
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ranker.errors import DataError, quoted

FORMATS = ("auto", "xml", "trec", "tsv")
ALIASES = {"both": "query+question"}
# The labels the classic SGML puts before a field's text.
_LABELS = re.compile(r"^\s*(Number|Description|Narrative|Topic)\s*:\s*", re.IGNORECASE)
_FIELD = re.compile(r"<(\w+)>")


def topic_id(text: str) -> str:
    """A topic's id as qrels and topics both name it: a number without leading zeros (the
    ad hoc tracks write `051` in one file and `51` in the other), anything else as it is."""
    text = text.strip()
    return str(int(text)) if text.isdigit() else text


def fields_of(query_field: str) -> list[str]:
    """The field names `data.query_field` joins."""
    return ALIASES.get(query_field, query_field).split("+")


def sniff(path: Path) -> str:
    """`trec` for a file that opens with `<top>`, `xml` for any other markup, else `tsv`."""
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.lower().startswith(b"<top>"):
        return "trec"
    return "xml" if head.startswith(b"<") else "tsv"


def read_topics(path: str | Path, query_field: str = "query", fmt: str = "auto") -> dict[str, str]:
    """Topic id -> its text."""
    path = Path(path)
    fmt = sniff(path) if fmt == "auto" else fmt
    try:
        if fmt == "tsv":
            if query_field != "query":
                raise DataError(
                    f"{path}: a TSV of topic id and text has no fields; data.query_field "
                    f"{quoted(query_field)} applies to XML or TREC topics only"
                )
            topics = _tsv(path)
        else:
            parse = _xml if fmt == "xml" else _sgml
            names = fields_of(query_field)
            topics = {
                topic_id(number): _text(path, number, fields, names)
                for number, fields in parse(path)
            }
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; is this a topics file?") from None
    if not topics:
        raise DataError(f"{path}: no topics found (read as {fmt}: see data.md for the shapes)")
    return topics


def _text(path: Path, number: str, fields: dict[str, str], names: list[str]) -> str:
    missing = [name for name in names if not fields.get(name)]
    if missing:
        raise DataError(
            f"{path}: topic {number} has no <{missing[0]}> text (it has "
            f"{', '.join(f'<{f}>' for f in fields) or 'no fields'}); set data.query_field"
        )
    return " ".join(fields[name] for name in names)


def _xml(path: Path) -> list[tuple[str, dict[str, str]]]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{path}: not valid topics XML ({exc})") from None
    out = []
    for topic in root.iter("topic"):
        number = (topic.get("number") or "").strip()
        if not number:
            raise DataError(f"{path}: a <topic> has no number attribute")
        out.append((number, {child.tag: " ".join((child.text or "").split()) for child in topic}))
    return out


def _sgml(path: Path) -> list[tuple[str, dict[str, str]]]:
    text = path.read_text(encoding="utf-8-sig")
    out = []
    for block in re.findall(r"<top>(.*?)</top>", text, flags=re.DOTALL | re.IGNORECASE):
        # A field runs from its tag to the next tag; closing tags, where present, are empty.
        parts = _FIELD.split(re.sub(r"</\w+>", "", block))
        fields = {
            tag.lower(): " ".join(_LABELS.sub("", body).split())
            for tag, body in zip(parts[1::2], parts[2::2], strict=True)
        }
        number = fields.pop("num", "")
        if not number:
            raise DataError(f"{path}: a <top> has no <num>")
        out.append((number, fields))
    return out


def _tsv(path: Path) -> dict[str, str]:
    topics: dict[str, str] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for number, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise DataError(
                    f"{path}:{number}: {len(row)} field(s), expected a topic id and its text "
                    "separated by one tab"
                )
            topics[topic_id(row[0])] = " ".join(row[1].split())
    return topics
