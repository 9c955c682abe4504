"""A local SMTP server for the demo (本地收信箱): keeps every mail as an .eml file, sends nothing on.

    python run.py mailbox                      # 127.0.0.1:8025, files in instance/mail/
    SMTP_HOST=127.0.0.1 SMTP_PORT=8025 ...     # what the demo configuration points at by default

Each mail is written to `<directory>/<UTC time>-<random>.eml` (headers X-MailFrom and X-RcptTo
first, with the envelope, since Bcc recipients appear nowhere else) and announced with one
line: time, sender, recipients, and the subject decoded from RFC 2047.  The file appears only
once complete (written under a temporary name, then renamed), so whoever watches the folder
never reads half a mail.

It is a demo tool with no login and no limits on who may send: it refuses to listen on anything
but a loopback address unless told otherwise (allow_remote).  aiosmtpd is imported on start, so
importing this module costs nothing.
"""
import datetime
import email
import ipaddress
import os
import signal
import socket
import threading
import uuid
from email import policy

import settings

DEFAULT_HOST = settings.MAILBOX_HOST
DEFAULT_PORT = settings.MAILBOX_PORT


class SinkError(RuntimeError):
    """The mailbox cannot start as asked; the message is for people."""


def check_host(host, allow_remote=False):
    """Raise SinkError unless `host` is a loopback address (or a name that only resolves to one)."""
    if allow_remote:
        return
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:  # a name: every address it stands for must be loopback
        try:
            addresses = {ipaddress.ip_address(info[4][0].split("%")[0])
                         for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
        except socket.gaierror:
            raise SinkError(f"无法解析监听地址 {host!r}") from None
    if not addresses or not all(address.is_loopback for address in addresses):
        raise SinkError(f"本地收信箱只用于演示，只监听本机回环地址（127.0.0.1 或 ::1），不监听 {host}；"
                        "确需让其他机器投递，请加 --allow-remote")


def summary_line(received_at, mail_from, rcpt_tos, raw):
    """"2026-11-23 08:00:05  发件人 → 收件人, …  主题" with the subject decoded from RFC 2047."""
    try:
        subject = str(email.message_from_bytes(raw, policy=policy.default)["Subject"] or "（无主题）")
    except (ValueError, IndexError, TypeError):  # a header the parser cannot decode: show it as it came
        subject = str(email.message_from_bytes(raw, policy=policy.compat32)["Subject"])
    # Anyone on this machine may send here: no terminal escape sequences on the operator's screen.
    subject = "".join(c if c.isprintable() else " " for c in subject)
    return f"{received_at:%Y-%m-%d %H:%M:%S}  {mail_from} → {', '.join(rcpt_tos)}  {subject}"


class MailSink:
    """aiosmtpd handler: stores each accepted mail under `directory` and calls `announce(line)`."""

    def __init__(self, directory, announce=print):
        self.directory = os.path.abspath(directory)
        self.announce = announce
        os.makedirs(self.directory, exist_ok=True)

    def store(self, mail_from, rcpt_tos, raw, received_at=None):
        """Write one mail; returns the path of its .eml file."""
        received_at = received_at or datetime.datetime.now(datetime.timezone.utc)
        name = f"{received_at:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        envelope = f"X-MailFrom: {mail_from}\r\nX-RcptTo: {', '.join(rcpt_tos)}\r\n".encode("utf-8")
        path = os.path.join(self.directory, name)
        partial = path + ".part"
        with open(partial, "wb") as handle:
            handle.write(envelope + raw)
        os.replace(partial, path)
        return path

    async def handle_DATA(self, server, session, envelope):
        raw = bytes(envelope.original_content or envelope.content)
        path = self.store(envelope.mail_from, envelope.rcpt_tos, raw)
        local = datetime.datetime.now()
        self.announce(f"{summary_line(local, envelope.mail_from, envelope.rcpt_tos, raw)}  "
                      f"[{os.path.basename(path)}]")
        return "250 Message accepted for delivery"


def start(directory, host=DEFAULT_HOST, port=DEFAULT_PORT, allow_remote=False, announce=print):
    """Start the server in a background thread; returns the aiosmtpd Controller (call .stop())."""
    from aiosmtpd.controller import Controller

    check_host(host, allow_remote)
    if not 1 <= int(port) <= 65535:
        raise SinkError(f"端口应为 1–65535 之间的整数，而不是 {port}")
    _check_bindable(host, int(port))
    controller = Controller(MailSink(directory, announce), hostname=host, port=int(port))
    try:
        controller.start()
    except (OSError, RuntimeError) as error:  # e.g. taken between the check and now
        raise SinkError(f"本地收信箱无法监听 {host}:{port}：{error}") from None
    return controller


def _check_bindable(host, port):
    """SinkError now if the port is taken: aiosmtpd would only say so after its 5 s start timeout."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
            probe.bind(address)
    except OSError as error:
        raise SinkError(f"本地收信箱无法监听 {host}:{port}：{error.strerror or error}") from None


def serve(directory, host=DEFAULT_HOST, port=DEFAULT_PORT, allow_remote=False, announce=print):
    """Run until SIGINT or SIGTERM (how `make demo` stops it)."""
    controller = start(directory, host, port, allow_remote, announce)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    announce(f"本地收信箱 / local mailbox: smtp://{host}:{port} → {controller.handler.directory}")
    try:
        while not stop.wait(1):  # a timed wait: the signal handler runs between waits
            pass
    finally:
        controller.stop()


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MailSink", "SinkError", "check_host", "serve", "start", "summary_line"]
