"""The evidence log's format: an entry, its hash, the check of a chain, and the
export file a magistrate verifies with `msa evidence verify FILE`.

Each case has one chain. An entry is (seq, at, kind, body): its place in the chain
(1, 2, …), when it happened (Unix ms), what it is (`alarm`, `fix`, `audit`) and its
facts as canonical JSON (keys sorted, no spaces, UTF-8). Its hash is the SHA-256, in
hex, of the UTF-8 text

    prev_hash "\\n" seq "\\n" at "\\n" kind "\\n" body

where prev_hash is the entry before's hash (64 zeros for the first). Altering an
entry changes its hash, which the next entry no longer names; removing one leaves a
gap in seq; removing the last ones is seen against the chain's head (the database
keeps it, and an export's first line states it).

The export is JSON lines: a header `{"format": "msa-evidence/1", "case", "exported_at",
"entries", "head"}`, then one entry a line `{"seq", "at", "kind", "body", "prev_hash",
"hash"}` with `body` as the text that was hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from msa.errors import UsageError

FORMAT = "msa-evidence/1"
GENESIS = "0" * 64
KINDS = ("alarm", "fix", "audit")
Kind = Literal["alarm", "fix", "audit"]
MAX_LINE_BYTES = 64 * 1024  # an entry is a few hundred bytes
MAX_ENTRIES = 10_000_000


class EvidenceError(UsageError):
    """An export file that is not one, or cannot be read; the message says which."""


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    at: int
    kind: str
    body: str
    prev_hash: str
    hash: str


def canonical(facts: dict[str, Any]) -> str:
    return json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link(prev_hash: str, seq: int, at: int, kind: str, body: str) -> str:
    text = f"{prev_hash}\n{seq}\n{at}\n{kind}\n{body}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def broken(entries: Sequence[Entry], head: tuple[int, str] | None = None) -> str | None:
    """None when the chain holds (and ends at `head`, (seq, hash), when given);
    else its first break, in words."""
    prev = GENESIS
    for expected, entry in enumerate(entries, 1):
        if entry.seq != expected:
            return f"entry {expected} is missing (the chain goes on with entry {entry.seq})"
        if entry.prev_hash != prev:
            return f"entry {entry.seq} does not name entry {expected - 1} before it"
        if link(entry.prev_hash, entry.seq, entry.at, entry.kind, entry.body) != entry.hash:
            return f"entry {entry.seq} was altered: its hash does not match what it says"
        prev = entry.hash
    if head is not None and head != (len(entries), prev):
        return (
            f"the chain ends at entry {len(entries)}, its head is entry {head[0]}: "
            "entries were removed"
        )
    return None


def write_export(path: Path, case: str, entries: Sequence[Entry], exported_at: str) -> str:
    """The export at `path` (a new file: never over another); its SHA-256, to note
    down beside the file."""
    head = entries[-1].hash if entries else GENESIS
    header = {"format": FORMAT, "case": case, "exported_at": exported_at,
              "entries": len(entries), "head": head}  # fmt: skip
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps(asdict(entry), ensure_ascii=False) for entry in entries]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    try:
        with path.open("xb") as file:
            file.write(data)
    except FileExistsError:
        raise EvidenceError(
            f"{path} exists: give a new file name (an export is never overwritten)"
        ) from None
    except OSError as error:
        raise EvidenceError(f"cannot write {path}: {error.strerror}") from None
    return hashlib.sha256(data).hexdigest()


def read_export(path: Path) -> tuple[dict[str, Any], list[Entry]]:
    """An export's header and entries; EvidenceError when the file is not one."""
    try:
        file = path.open("rb")
    except OSError as error:
        raise EvidenceError(f"cannot read {path}: {error.strerror}") from None
    with file:
        header = _object(file.readline(MAX_LINE_BYTES + 1), path, 1)
        if header.get("format") != FORMAT:
            raise EvidenceError(f"{path} is not an msa evidence export ({FORMAT})")
        entries = []
        for number, line in enumerate(file, 2):
            if number > MAX_ENTRIES + 1:
                raise EvidenceError(f"{path} has more than {MAX_ENTRIES} entries")
            entries.append(_entry(_object(line, path, number), path, number))
    return header, entries


def verify_export(path: Path) -> tuple[dict[str, Any], int, str | None]:
    """(header, entries, the first break or None) of the export at `path`."""
    header, entries = read_export(path)
    count, head = header.get("entries"), header.get("head")
    if not isinstance(count, int) or not isinstance(head, str):
        raise EvidenceError(f"{path}: its first line lacks the chain's entries and head")
    return header, len(entries), broken(entries, (count, head))


def _object(line: bytes, path: Path, number: int) -> dict[str, Any]:
    if len(line) > MAX_LINE_BYTES:
        raise EvidenceError(f"{path}: line {number} is over {MAX_LINE_BYTES} bytes")
    try:
        value = json.loads(line)
    except ValueError:
        raise EvidenceError(f"{path}: line {number} is not JSON") from None
    if not isinstance(value, dict):
        raise EvidenceError(f"{path}: line {number} is not a JSON object")
    return value


def _entry(value: dict[str, Any], path: Path, number: int) -> Entry:
    try:
        entry = Entry(**value)
    except TypeError:
        raise EvidenceError(f"{path}: line {number} is not an entry") from None
    texts = (entry.kind, entry.body, entry.prev_hash, entry.hash)
    numbers = (entry.seq, entry.at)
    if not all(isinstance(t, str) for t in texts) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in numbers
    ):
        raise EvidenceError(f"{path}: line {number} is not an entry")
    return entry
