"""The content checksum of an ingested file: how a byte-identical copy is recognised.

Each ingest run stores the checksum of the file it read, and a file of a delivery with the same
checksum as one read before is counted once (``bot.ingest.service``). Three forms are stored:

* ``blake3:<56 hex digits>``: what every file read now gets. BLAKE3 (224 bits of output, a
  cryptographic hash) takes about a third of SHA-256's CPU here, and a CSV export is hashed
  whole while it is parsed (``bench/ingest.py``: about 0.1 s against 0.33 s per 400 MiB on one
  core). The prefix keeps the value within the column's 64 characters.
* 64 hex digits, no prefix: SHA-256, what runs stored before BLAKE3 carry. They are still
  compared: a file is hashed the old way when its twin may be such a run.
* ``<scheme>-token:<token>``: an object store's change token (ETag, version, generation) for
  Parquet read by range requests, where hashing every byte would download the whole object.

Two checksums are only compared in the same form; :class:`FileChecksums` computes a file's
checksum in whichever form the other one has, once per form.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import blake3

from bot.ingest.sources.focus import FocusFileError, hash_file
from bot.ingest.sources.objects import ExportFile, RemoteObject

__all__ = ["FileChecksums", "Form", "content_hasher", "form_of", "name_of", "stored",
           "token_checksum"]

Form = Literal["blake3", "sha256", "token"]
_PREFIX = "blake3:"
_LENGTH = 28  # bytes of BLAKE3 output: 7 + 56 characters fit the column's 64


def content_hasher() -> blake3.blake3:
    """A fresh hash for a file read now (:func:`stored` turns it into the stored value)."""
    return blake3.blake3()


def stored(hasher: blake3.blake3) -> str:
    """The checksum stored for a file fed whole to ``hasher`` (:func:`content_hasher`)."""
    return _PREFIX + hasher.hexdigest(length=_LENGTH)


def form_of(checksum: str) -> Form:
    if checksum.startswith(_PREFIX):
        return "blake3"
    return "token" if "-token:" in checksum else "sha256"


def name_of(checksum: str) -> str:
    """What the checksum is, as said to a user: "BLAKE3", "SHA-256" or the store's token."""
    return {"blake3": "BLAKE3", "sha256": "SHA-256",
            "token": "ETag/version in the store"}[form_of(checksum)]


def token_checksum(file: ExportFile) -> str | None:
    """The store's change token of a Parquet object, standing in for its content hash.

    Parquet is read by range requests of the columns spendwatch uses; hashing every byte would
    download the whole object. A CSV is read whole anyway, and hashed as it streams by.
    """
    if isinstance(file, RemoteObject) and file.name.lower().endswith(".parquet"):
        return file.checksum()
    return None


class FileChecksums:
    """One file's checksum in each form asked for, each computed at most once.

    ``known``: a checksum already stored for the file (an unchanged file's run), given back
    as it is when the form asked for is its own.
    """

    def __init__(self, file: ExportFile, known: str | None = None) -> None:
        self.file = file
        self._done: dict[Form, str | None] = {}
        if known:
            self._done[form_of(known)] = known

    def like(self, other: str) -> str | None:
        """The file's checksum in the form of ``other``; None when it cannot be had (no token,
        or the file cannot be read: reading it will say why)."""
        form = form_of(other)
        if form not in self._done:
            self._done[form] = self._compute(form)
        return self._done[form]

    def _compute(self, form: Form) -> str | None:
        if form == "token":
            return token_checksum(self.file)
        try:
            if form == "sha256":
                sha256 = hashlib.sha256()
                hash_file(self.file, sha256)
                return sha256.hexdigest()
            hasher = content_hasher()
            hash_file(self.file, hasher)
            return stored(hasher)
        except FocusFileError:
            return None
