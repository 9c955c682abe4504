"""The backup file on disk: its name, the streams that write and read it, and its manifest.

A backup is one file and its manifest beside it:

    crm-20261207-103000.sqlite.gz        gzip of the SQLite online-backup copy
    crm-20261207-103000.pgdump           pg_dump's custom format (compressed by pg_dump)
    crm-20261207-103000.pgdump.enc       ... encrypted (any of them may be)
    crm-20261207-103000.pgdump.enc.json  the manifest: created at, database kind, row counts, sha256, ...

Unencrypted files are standard formats (`gunzip`, `pg_restore` read them by hand).  Encrypted ones are
AES-GCM in 1 MiB records, streamed (never the whole file in memory):

    header  = MAGIC (8) | salt (16) | key check (16) | nonce prefix (7)
    record  = length (4, big endian) | AES-GCM(chunk), nonce = prefix | counter (4) | last (1), AAD = header

The key is HKDF-SHA256 of the master key (BACKUP_KEY, else FIELD_KEY) with the file's salt; the key check
tells a wrong key from a damaged file before anything is decrypted, and the `last` flag in the final
record's nonce makes a truncated file fail instead of restoring a prefix.
"""
import datetime
import hashlib
import json
import os
import re
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import BackupError

MAGIC = b"CRMBAK\x00\x01"
CHUNK = 1 << 20
HEADER = len(MAGIC) + 16 + 16 + 7
NAME = re.compile(r"^crm-(\d{8})-(\d{6})(?:-(\d+))?\.(sqlite\.gz|pgdump)(\.enc)?$")


# -- names --------------------------------------------------------------------------------------------

def new_path(directory, moment, suffix, encrypted):
    """A fresh path crm-YYYYMMDD-HHMMSS<suffix>[.enc] in `directory` (-2, -3 ... if that second is taken)."""
    stem = f"crm-{moment:%Y%m%d-%H%M%S}"
    tail = suffix + (".enc" if encrypted else "")
    path, number = os.path.join(directory, stem + tail), 1
    while os.path.exists(path) or os.path.exists(manifest_path(path)):
        number += 1
        path = os.path.join(directory, f"{stem}-{number}{tail}")
    return path


def manifest_path(path):
    return path + ".json"


def own_backups(directory):
    """The backups of our own naming in `directory`, newest first (by the time in the name)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        match = NAME.match(name)
        if match and os.path.isfile(os.path.join(directory, name)):
            found.append(((match.group(1), match.group(2), int(match.group(3) or 1)), name))
    return [os.path.join(directory, name) for _, name in sorted(found, reverse=True)]


def rotate(directory, keep):
    """Delete all but the newest `keep` backups of our naming (and their manifests); returns the deleted paths.
    Files of any other name are never touched."""
    if keep < 1:
        raise BackupError("保留份数至少为 1")
    deleted = []
    for path in own_backups(directory)[keep:]:
        for victim in (path, manifest_path(path)):
            if os.path.exists(victim):
                os.remove(victim)
        deleted.append(path)
    return deleted


# -- writing ------------------------------------------------------------------------------------------

class FileSink:
    """The end of the write pipeline: the file, its size and sha256 as written."""

    def __init__(self, path):
        # personal data: readable by the service user only (0600), whatever the umask
        self.handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data):
        if data:
            self.handle.write(data)
            self.hash.update(data)
            self.size += len(data)

    def close(self):
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()

    def abort(self):
        self.handle.close()


class GzipSink:
    """gzip-compresses what it is given into `inner`."""

    def __init__(self, inner, level=6):
        self.inner = inner
        self.zip = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: a gzip member, `gunzip` reads it

    def write(self, data):
        self.inner.write(self.zip.compress(data))

    def close(self):
        self.inner.write(self.zip.flush())
        self.inner.close()

    def abort(self):
        self.inner.abort()


def derive(master, salt):
    """(AES key, key check) for one file from the master key and the file's salt."""
    material = HKDF(algorithm=hashes.SHA256(), length=48, salt=salt, info=b"crm-backup v1").derive(master)
    return material[:32], material[32:]


class SealSink:
    """Encrypts what it is given into `inner`, in CHUNK-sized AES-GCM records (see the module docstring)."""

    def __init__(self, inner, master):
        self.inner = inner
        salt, self.prefix = os.urandom(16), os.urandom(7)
        key, check = derive(master, salt)
        self.aead = AESGCM(key)
        self.header = MAGIC + salt + check + self.prefix
        self.inner.write(self.header)
        self.buffer = bytearray()
        self.counter = 0

    def write(self, data):
        self.buffer += data
        while len(self.buffer) > CHUNK:  # keep at least one byte back: the last record must carry the flag
            self._record(bytes(self.buffer[:CHUNK]), last=False)
            del self.buffer[:CHUNK]

    def _record(self, plain, last):
        nonce = self.prefix + self.counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        box = self.aead.encrypt(nonce, plain, self.header)
        self.inner.write(len(box).to_bytes(4, "big") + box)
        self.counter += 1

    def close(self):
        self._record(bytes(self.buffer), last=True)
        self.buffer = bytearray()
        self.inner.close()

    def abort(self):
        self.inner.abort()


def writer(path, master=None, gzip=False):
    """(first stage to write to, the FileSink at the end) for a new backup file at `path`."""
    sink = FileSink(path)
    stage = SealSink(sink, master) if master is not None else sink
    return (GzipSink(stage) if gzip else stage), sink


# -- reading ------------------------------------------------------------------------------------------

def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_key(path, master):
    """Raise BackupError if `master` is not the key this encrypted file was written with."""
    with open(path, "rb") as handle:
        header = handle.read(HEADER)
    if len(header) < HEADER or not header.startswith(MAGIC):
        raise BackupError(f"{os.path.basename(path)} 不是加密备份文件，或文件已损坏")
    _, check = derive(master, header[len(MAGIC):len(MAGIC) + 16])
    if check != header[len(MAGIC) + 16:len(MAGIC) + 32]:
        raise BackupError("解密密钥不正确：此备份不是用当前的 BACKUP_KEY / FIELD_KEY 加密的，未做任何更改")


def _unsealed(handle, master):
    header = handle.read(HEADER)
    if len(header) < HEADER or not header.startswith(MAGIC):
        raise BackupError("备份文件已损坏（加密文件头不完整），未做任何更改")
    key, _ = derive(master, header[len(MAGIC):len(MAGIC) + 16])
    aead, prefix, counter = AESGCM(key), header[-7:], 0
    while True:
        size = handle.read(4)
        if len(size) < 4:
            raise BackupError("备份文件不完整（被截断），未做任何更改")
        box = handle.read(int.from_bytes(size, "big"))
        for last in (b"\x00", b"\x01"):
            try:
                plain = aead.decrypt(prefix + counter.to_bytes(4, "big") + last, box, header)
                break
            except InvalidTag:
                plain = None
        if plain is None:
            raise BackupError("备份文件已损坏（解密校验失败），未做任何更改")
        yield plain
        counter += 1
        if last == b"\x01":
            if handle.read(1):
                raise BackupError("备份文件已损坏（结尾之后还有数据），未做任何更改")
            return


def _plain_file(handle):
    yield from iter(lambda: handle.read(CHUNK), b"")


def _gunzipped(chunks):
    unzip = zlib.decompressobj(31)
    try:
        for chunk in chunks:
            while chunk:
                yield unzip.decompress(chunk, CHUNK)
                chunk = unzip.unconsumed_tail
        yield unzip.flush()
    except zlib.error:
        raise BackupError("备份文件已损坏（无法解压），未做任何更改") from None
    if not unzip.eof:
        raise BackupError("备份文件不完整（压缩数据被截断），未做任何更改")


def extract(path, manifest, master, out_path):
    """Write the plain dump of backup `path` (decrypted, and gunzipped when the manifest says gzip) to out_path."""
    with open(path, "rb") as handle, open(out_path, "wb") as out:
        chunks = _unsealed(handle, master) if manifest.get("encrypted") else _plain_file(handle)
        if manifest.get("compression") == "gzip":
            chunks = _gunzipped(chunks)
        for chunk in chunks:
            out.write(chunk)


# -- manifest -----------------------------------------------------------------------------------------

def write_manifest(path, manifest):
    target = manifest_path(path)
    with os.fdopen(os.open(target + ".partial", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                   encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=False, indent=2, sort_keys=True)
    os.replace(target + ".partial", target)
    return target


def read_manifest(path):
    target = manifest_path(path)
    if not os.path.isfile(path):
        raise BackupError(f"找不到备份文件：{path}")
    try:
        with open(target, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        raise BackupError(f"找不到备份清单 {os.path.basename(target)}（应与备份文件放在同一目录），无法校验，未做任何更改") from None
    except ValueError:
        raise BackupError(f"备份清单 {os.path.basename(target)} 已损坏，无法校验，未做任何更改") from None
    if not isinstance(manifest, dict) or manifest.get("format") != 1 or not manifest.get("sha256"):
        raise BackupError(f"备份清单 {os.path.basename(target)} 不是本系统的备份清单，未做任何更改")
    return manifest


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
