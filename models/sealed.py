"""Encryption at rest for sensitive columns (ID number, bank card, TOTP secrets).

Values are sealed with AES-GCM under a key given by `configure(key, old_keys)`.  Because
ciphertexts are randomised, each searchable sealed column has a digest column (keyed HMAC of the
normalised value) so that an exact full-value lookup stays an indexed equality, while
fragments of the value can never be searched.

Key rotation (keyrotation/, docs/operations.md): a sealed value is "KEYID:" + base64(nonce + box),
KEYID being a short fingerprint of the master key it was sealed under, so a value says which key
opens it.  Values written before key ids existed carry no prefix; they are opened by trying each
configured key (AES-GCM refuses a wrong key, it never returns garbage).  During a rotation FIELD_KEY
is the new key, which seals and digests everything written, and FIELD_KEY_OLD the old one, which
only opens: every value reads whichever key it is under, and a digest lookup asks for the digests
under every configured key (`digests`), so search finds values not yet rotated.
"""
import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from peewee import TextField

_keys = {}  # "id", "seal", "digest": the current key's; "open": {key id: seal key}; "digests": every digest key


class UnknownKey(ValueError):
    """A sealed value whose key is not configured (neither FIELD_KEY nor FIELD_KEY_OLD)."""


def key_id(key: bytes) -> str:
    """The public fingerprint of a master key: 8 hex digits, never enough to find the key."""
    return hashlib.sha256(b"key-id:" + key).hexdigest()[:8]


def _derive(key):
    if len(key) < 16:
        raise ValueError("field encryption key must be at least 16 bytes")
    return hashlib.sha256(b"seal:" + key).digest(), hashlib.sha256(b"digest:" + key).digest()


def configure(key: bytes, old_keys=()):
    """Derive separate encryption and digest keys from the master key (and from older keys, which
    only open values and answer digest lookups while a rotation runs)."""
    seal_key, digest_key = _derive(key)
    opened, digest_keys = {key_id(key): seal_key}, [digest_key]
    for old in old_keys or ():
        old_seal, old_digest = _derive(old)
        opened.setdefault(key_id(old), old_seal)
        if old_digest not in digest_keys:
            digest_keys.append(old_digest)
    _keys.clear()
    _keys.update({"id": key_id(key), "seal": seal_key, "digest": digest_key, "open": opened,
                  "digests": digest_keys})


def _key(name):
    try:
        return _keys[name]
    except KeyError:
        raise RuntimeError("models.sealed.configure(key) was not called") from None


def current_key_id() -> str:
    return _key("id")


def rotating() -> bool:
    """True while older keys are configured beside the current one (FIELD_KEY_OLD)."""
    return len(_key("open")) > 1


def seal(plain: str) -> str:
    nonce = os.urandom(12)
    box = AESGCM(_key("seal")).encrypt(nonce, plain.encode("utf-8"), None)
    return _key("id") + ":" + base64.b64encode(nonce + box).decode("ascii")


def token_key_id(token: str):
    """The key id a sealed value names, or None for a value sealed before key ids existed."""
    head, colon, _ = token.partition(":")
    return head if colon else None


def is_current(token) -> bool:
    """True when `token` (a stored sealed value, or None) is under the current key."""
    return token is None or token_key_id(token) == _key("id")


def unseal(token: str) -> str:
    kid = token_key_id(token)
    if kid is not None:
        key = _key("open").get(kid)
        if key is None:
            raise UnknownKey(f"sealed under key {kid}, which is not configured (FIELD_KEY / FIELD_KEY_OLD)")
        raw = base64.b64decode(token[len(kid) + 1:])
        return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode("utf-8")
    raw = base64.b64decode(token)
    for key in _key("open").values():  # the current key first
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode("utf-8")
        except InvalidTag:
            continue
    raise UnknownKey("sealed under a key that is not configured (FIELD_KEY / FIELD_KEY_OLD)")


def reseal(token):
    """`token` sealed under the current key (itself when it already is, None for None)."""
    return token if is_current(token) else seal(unseal(token))


def normalise(value: str) -> str:
    return "".join(str(value).split()).upper()


def digest(value: str) -> str:
    """The digest under the current key: what a write stores."""
    return hmac.new(_key("digest"), normalise(value).encode("utf-8"), "sha256").hexdigest()


def digests(value: str) -> list:
    """The digests under every configured key, current first: what a lookup asks for (one while no
    rotation runs; during one, a value not yet rotated is found by its old digest)."""
    text = normalise(value).encode("utf-8")
    return [hmac.new(key, text, "sha256").hexdigest() for key in _key("digests")]


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
