"""Two-step login codes: time-based one-time passwords (RFC 6238, pyotp) and the enrolment QR code.

The secret is kept sealed in User.totp_secret (models/sealed.py); it counts once the user has entered a
code from their authenticator app (User.totp_enabled). A role can require it (Role.require_totp).
"""
import datetime
import hmac

import pyotp

ISSUER = "客户资料管理与分析平台"


def new_secret():
    return pyotp.random_base32()


def uri(secret, username):
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(text):
    """The QR code of `text` as inline SVG markup (no script, no external image), or None without segno."""
    try:
        import segno
    except ImportError:  # the page then shows the secret and the address to type in
        return None
    return segno.make(text, error="m").svg_inline(scale=5, dark="#222", light="#fff")


def matching_step(secret, code, now):
    """The 30-second step whose code `code` is, at `now` or one step either side (clock drift); else None."""
    code = "".join((code or "").split())
    if not secret or not code.isdigit() or len(code) != 6:
        return None
    generator = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        moment = now + datetime.timedelta(seconds=30 * offset)
        if hmac.compare_digest(generator.at(moment), code):
            return generator.timecode(moment)
    return None


def verify(secret, code, now, last_step=None):
    """The step of a right code not used before (a step after `last_step`), else None: a code works once."""
    step = matching_step(secret, code, now)
    if step is None or (last_step is not None and step <= last_step):
        return None
    return step


def code_at(secret, now):
    """The code an authenticator shows at `now` (tests, and nothing else)."""
    return pyotp.TOTP(secret).at(now)


def required(user):
    """Whether `user` must use a code: their own choice, or their role's."""
    return bool(user.totp_enabled) or bool(user.role.require_totp)
