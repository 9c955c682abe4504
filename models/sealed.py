"""Encryption at rest for sensitive columns (ID number, bank card).

Values are sealed with AES-GCM under a key given once by `configure(key)`.  Because
ciphertexts are randomised, each sealed column has a digest column (keyed HMAC of the
normalised value) so that an exact full-value lookup stays an indexed equality, while
fragments of the value can never be searched.
"""
import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from peewee import TextField

_keys = {}


def configure(key: bytes):
    """Derive separate encryption and digest keys from one master key."""
    if len(key) < 16:
        raise ValueError("field encryption key must be at least 16 bytes")
    _keys["seal"] = hashlib.sha256(b"seal:" + key).digest()
    _keys["digest"] = hashlib.sha256(b"digest:" + key).digest()


def _key(name):
    try:
        return _keys[name]
    except KeyError:
        raise RuntimeError("models.sealed.configure(key) was not called") from None


def seal(plain: str) -> str:
    nonce = os.urandom(12)
    box = AESGCM(_key("seal")).encrypt(nonce, plain.encode("utf-8"), None)
    return base64.b64encode(nonce + box).decode("ascii")


def unseal(token: str) -> str:
    raw = base64.b64decode(token)
    return AESGCM(_key("seal")).decrypt(raw[:12], raw[12:], None).decode("utf-8")


def normalise(value: str) -> str:
    return "".join(str(value).split()).upper()


def digest(value: str) -> str:
    return hmac.new(_key("digest"), normalise(value).encode("utf-8"), "sha256").hexdigest()


class SealedField(TextField):
    """Stores ciphertext; Python code only ever sees the plain value."""

    def db_value(self, value):
        if value is None or value == "":
            return None
        return seal(str(value))

    def python_value(self, value):
        if value is None:
            return None
        return unseal(value)
