"""E-mail addresses as people type them: "张三 <zhang@example.com>", "a@example.com; b@example.com".

Only plain ASCII addresses are accepted (no SMTPUTF8): a Chinese display name is fine, a
Chinese mailbox or domain is refused with a message, as is anything malformed.  Refusal
names every bad entry at once, so a subscription form can show them all.
"""
import re
from email.headerregistry import Address

from .errors import AddressError

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDR_SPEC = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*$")
_ENTRY = re.compile(r'^(?:(?P<name>[^<>]*?)\s*<(?P<addr>[^<>]*)>|(?P<bare>[^<>\s]+))$')


def split_entries(text):
    """Split on commas, semicolons and line breaks outside double quotes ("李, 四" <l@x.cn> stays whole)."""
    entries, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char in ",;\n\r" and not quoted:
            entries.append("".join(current))
            current = []
        else:
            current.append(char)
    entries.append("".join(current))
    return [entry.strip() for entry in entries if entry.strip()]


def _parse(entry):
    """An Address, or None when `entry` is not one well-formed address."""
    found = _ENTRY.match(entry)
    if not found:
        return None
    addr = (found.group("addr") if found.group("addr") is not None else found.group("bare")).strip()
    name = (found.group("name") or "").strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    if not ADDR_SPEC.match(addr) or len(addr) > 254 or len(addr.split("@")[0]) > 64:
        return None
    username, domain = addr.rsplit("@", 1)
    return Address(display_name=name, username=username, domain=domain)


def parse_addresses(value, what="收件人"):
    """Addresses from a string (comma/semicolon separated) or an iterable of strings.

    Returns a list of email.headerregistry.Address, duplicates (case-insensitive) dropped,
    order kept.  Raises AddressError naming every malformed entry, or when there is none.
    """
    items = [value] if isinstance(value, str) else list(value or ())
    entries = [entry for item in items for entry in split_entries(str(item))]
    parsed, bad, seen = [], [], set()
    for entry in entries:
        address = _parse(entry)
        if address is None:
            bad.append(entry)
        elif address.addr_spec.lower() not in seen:
            seen.add(address.addr_spec.lower())
            parsed.append(address)
    if bad:
        raise AddressError(f"{what}地址无效：{'、'.join(bad)}（应为 name@example.com 或 姓名 <name@example.com>，"
                           f"仅支持 ASCII 邮箱地址）", bad)
    if not parsed:
        raise AddressError(f"没有{what}地址")
    return parsed


def parse_address(value, what="发件人"):
    """Exactly one address."""
    addresses = parse_addresses(value, what)
    if len(addresses) > 1:
        raise AddressError(f"{what}只能有一个地址：{value}", [value])
    return addresses[0]
