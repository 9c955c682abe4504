"""SMTP settings from the environment (os.environ by default, or any mapping such as app.config).

| variable        | default                             | meaning                                              |
|-----------------|-------------------------------------|------------------------------------------------------|
| SMTP_HOST       | localhost                           | mail server                                          |
| SMTP_SECURITY   | none                                | none, starttls (upgrade after connecting) or ssl      |
| SMTP_PORT       | 25 / 587 / 465 by SMTP_SECURITY     | none -> 25, starttls -> 587, ssl -> 465              |
| SMTP_USER       | (empty: no login)                   | login name; needs SMTP_PASSWORD                      |
| SMTP_PASSWORD   | (empty)                             | password                                             |
| MAIL_SENDER     | 客户分析平台 <reports@localhost>    | From: address, display name optional                 |
| SMTP_TIMEOUT    | 30                                  | seconds for connecting and for each server reply     |
| SMTP_CA_FILE    | (empty: the system's CAs)           | PEM file of CAs to verify the server's certificate   |
| MAIL_ATTACH_PDF | 0                                   | 1: report mails also carry the report as a PDF (A4)  |

A login (SMTP_USER) needs starttls or ssl unless the server is on this machine (localhost,
127.0.0.1, ::1), so a password never crosses the network in clear.  Empty values count as
unset.  Errors are SettingsError with a message naming the variable.
"""
import os
from dataclasses import dataclass, field

from .addresses import parse_address
from .errors import AddressError, SettingsError

SECURITY_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
DEFAULT_SENDER = "客户分析平台 <reports@localhost>"
DEFAULT_TIMEOUT = 30.0
LOOPBACK = ("localhost", "127.0.0.1", "::1")
KEYS = ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USER", "SMTP_PASSWORD", "MAIL_SENDER", "SMTP_TIMEOUT",
        "SMTP_CA_FILE", "MAIL_ATTACH_PDF")


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    security: str = "none"
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = DEFAULT_SENDER
    timeout: float = DEFAULT_TIMEOUT
    ca_file: str = ""
    attach_pdf: bool = False  # the report as a PDF beside its HTML (exports.notebook.run_pdf)

    def __post_init__(self):
        check(self)

    @property
    def sender_address(self):
        """MAIL_SENDER as an email.headerregistry.Address."""
        return parse_address(self.sender, "发件人（MAIL_SENDER）")


def check(settings):
    """Raise SettingsError if `settings` cannot work; the dataclass calls this on creation."""
    if not settings.host or any(c.isspace() for c in settings.host):
        raise SettingsError(f"SMTP_HOST 无效：{settings.host!r}")
    if settings.security not in SECURITY_MODES:
        raise SettingsError(f"SMTP_SECURITY 应为 {' / '.join(SECURITY_MODES)} 之一，而不是 {settings.security!r}")
    if isinstance(settings.port, bool) or not isinstance(settings.port, int) or not 1 <= settings.port <= 65535:
        raise SettingsError(f"SMTP_PORT 应为 1–65535 之间的整数，而不是 {settings.port!r}")
    if not settings.timeout > 0:
        raise SettingsError(f"SMTP_TIMEOUT 应为大于 0 的秒数，而不是 {settings.timeout!r}")
    if settings.user and not settings.password:
        raise SettingsError("设置了 SMTP_USER 却没有 SMTP_PASSWORD")
    if settings.password and not settings.user:
        raise SettingsError("设置了 SMTP_PASSWORD 却没有 SMTP_USER")
    if not (settings.user + settings.password).isascii():
        raise SettingsError("SMTP_USER 与 SMTP_PASSWORD 只能包含 ASCII 字符（SMTP 登录的限制）")
    if settings.user and settings.security == "none" and settings.host.lower() not in LOOPBACK:
        raise SettingsError(f"登录 {settings.host} 需要 SMTP_SECURITY=starttls 或 ssl，以免密码明文传输")
    if settings.ca_file and not os.path.isfile(settings.ca_file):
        raise SettingsError(f"SMTP_CA_FILE 文件不存在：{settings.ca_file}")
    try:
        settings.sender_address
    except AddressError as error:
        raise SettingsError(f"MAIL_SENDER 无效：{settings.sender!r}（应为 name@example.com 或 "
                            "显示名 <name@example.com>）") from error


def from_env(env=None):
    """SmtpSettings from `env` (default os.environ): the SMTP_* variables and MAIL_SENDER."""
    env = os.environ if env is None else env

    def value(key):
        raw = env.get(key)
        return "" if raw is None else str(raw).strip()

    security = value("SMTP_SECURITY").lower() or "none"
    port = value("SMTP_PORT")
    if not port:
        port = DEFAULT_PORTS.get(security, 25)  # an unknown mode is reported by check()
    else:
        try:
            port = int(port)
        except ValueError:
            raise SettingsError(f"SMTP_PORT 应为 1–65535 之间的整数，而不是 {port!r}") from None
    timeout = value("SMTP_TIMEOUT")
    if not timeout:
        timeout = DEFAULT_TIMEOUT
    else:
        try:
            timeout = float(timeout)
        except ValueError:
            raise SettingsError(f"SMTP_TIMEOUT 应为大于 0 的秒数，而不是 {timeout!r}") from None
    attach_pdf = value("MAIL_ATTACH_PDF").lower()
    if attach_pdf not in ("", "0", "1", "false", "true", "no", "yes"):
        raise SettingsError(f"MAIL_ATTACH_PDF 应为 0 或 1，而不是 {attach_pdf!r}")
    return SmtpSettings(
        host=value("SMTP_HOST") or "localhost",
        port=port,
        security=security,
        user=value("SMTP_USER"),
        # Passwords may start or end with spaces: taken as given.
        password="" if env.get("SMTP_PASSWORD") is None else str(env.get("SMTP_PASSWORD")),
        sender=value("MAIL_SENDER") or DEFAULT_SENDER,
        timeout=timeout,
        ca_file=value("SMTP_CA_FILE"),
        attach_pdf=attach_pdf in ("1", "true", "yes"),
    )
