"""Send a built mail over SMTP: plain, STARTTLS or implicit SSL, with a login when SMTP_USER is set.

    result = send(message, settings)     # settings: delivery.settings.from_env()
    result.accepted                      # envelope recipients the server took
    result.refused                       # address -> (code, reply) for those it refused

Failures are DeliveryError subclasses with a Chinese message:
  SmtpUnavailable (retryable): connection refused, DNS failure, timeout, disconnect, or any
      4xx reply (greylisting, mailbox busy, login temporarily unavailable).
  SmtpRejected (permanent): login refused (535), TLS handshake or certificate failure,
      STARTTLS/AUTH not offered, sender refused, every recipient refused, data refused (5xx).
Some recipients refused and others accepted is not an error: the mail went out, and the
refused ones are in result.refused for the caller to report.
"""
import smtplib
import ssl
from dataclasses import dataclass, field
from email.utils import getaddresses

from .errors import SmtpRejected, SmtpUnavailable


@dataclass(frozen=True)
class SendResult:
    message_id: str
    accepted: tuple = ()
    refused: dict = field(default_factory=dict)  # address -> (code, reply text)


def tls_context(settings):
    """Verifying TLS context: the system's CAs, or SMTP_CA_FILE's."""
    return ssl.create_default_context(cafile=settings.ca_file or None)


def envelope_recipients(message):
    return [addr for _, addr in getaddresses(message.get_all("To", []) + message.get_all("Cc", []) +
                                             message.get_all("Bcc", [])) if addr]


def _reply(error):
    """The server's reply text from an smtplib error."""
    text = getattr(error, "smtp_error", b"")
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _by_code(code, message, reply="", refused=None):
    """4xx is temporary (retry), anything else permanent."""
    kind = SmtpUnavailable if code and 400 <= code < 500 else SmtpRejected
    return kind(f"{message}：{code} {reply}".rstrip(), code=code, reply=reply, refused=refused)


def _connect(settings):
    where = f"{settings.host}:{settings.port}"
    if settings.security == "ssl":
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                  context=tls_context(settings))
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.security == "starttls":
            client.ehlo()
            if not client.has_extn("starttls"):
                raise SmtpRejected(f"邮件服务器 {where} 不支持 STARTTLS（检查 SMTP_SECURITY 与 SMTP_PORT）")
            client.starttls(context=tls_context(settings))
            client.ehlo()
        if settings.user:
            client.ehlo_or_helo_if_needed()
            if not client.has_extn("auth"):
                raise SmtpRejected(f"邮件服务器 {where} 不接受登录（未提供 AUTH；可能需要 SMTP_SECURITY=starttls）")
            try:
                client.login(settings.user, settings.password)
            except smtplib.SMTPAuthenticationError as error:
                raise _by_code(error.smtp_code, f"SMTP 登录失败（用户 {settings.user}）", _reply(error)) from error
    except BaseException:
        client.close()
        raise
    return client


def send(message, settings):
    """Send `message` (an EmailMessage with From and To) with `settings`; returns a SendResult.

    Envelope sender: MAIL_SENDER's address; recipients: the To, Cc and Bcc headers (Bcc is not
    transmitted).  Raises SmtpUnavailable or SmtpRejected as described in the module docstring.
    """
    where = f"{settings.host}:{settings.port}"
    recipients = envelope_recipients(message)
    try:
        client = _connect(settings)
        try:
            refused = client.send_message(message, from_addr=settings.sender_address.addr_spec,
                                          to_addrs=recipients)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except (SmtpRejected, SmtpUnavailable):
        raise
    except smtplib.SMTPRecipientsRefused as error:
        refused = {addr: (code, _text(reply)) for addr, (code, reply) in error.recipients.items()}
        listed = "；".join(f"{addr}（{code} {reply}）" for addr, (code, reply) in refused.items())
        temporary = all(400 <= code < 500 for code, _ in refused.values())
        kind = SmtpUnavailable if temporary else SmtpRejected
        raise kind(f"邮件服务器 {where} 拒绝了全部收件人：{listed}", refused=refused) from error
    except smtplib.SMTPSenderRefused as error:
        raise _by_code(error.smtp_code, f"邮件服务器 {where} 拒绝了发件人 {error.sender}", _reply(error)) from error
    except smtplib.SMTPDataError as error:
        raise _by_code(error.smtp_code, f"邮件服务器 {where} 拒绝了邮件内容", _reply(error)) from error
    except smtplib.SMTPNotSupportedError as error:
        raise SmtpRejected(f"邮件服务器 {where} 不支持所需功能：{error}") from error
    except smtplib.SMTPServerDisconnected as error:
        raise SmtpUnavailable(f"邮件服务器 {where} 断开了连接：{error}") from error
    except smtplib.SMTPConnectError as error:
        raise _by_code(error.smtp_code, f"邮件服务器 {where} 拒绝连接", _reply(error)) from error
    except smtplib.SMTPResponseException as error:
        raise _by_code(error.smtp_code, f"邮件服务器 {where} 返回错误", _reply(error)) from error
    except smtplib.SMTPException as error:  # e.g. no authentication method both sides support
        raise SmtpRejected(f"邮件服务器 {where}：{error}") from error
    except ssl.SSLCertVerificationError as error:
        raise SmtpRejected(f"邮件服务器 {where} 的证书验证失败：{error.verify_message}"
                           "（检查 SMTP_HOST 与证书是否一致，或用 SMTP_CA_FILE 指定 CA）") from error
    except ssl.SSLError as error:
        raise SmtpRejected(f"与邮件服务器 {where} 的 TLS 握手失败：{error.reason or error}"
                           "（检查 SMTP_SECURITY 与 SMTP_PORT 是否匹配）") from error
    except (TimeoutError, ConnectionError, OSError) as error:  # refused, reset, unreachable, DNS, timeout
        detail = error.strerror or str(error) or type(error).__name__
        raise SmtpUnavailable(f"无法连接邮件服务器 {where}：{detail}") from error
    return SendResult(message_id=str(message.get("Message-ID", "")),
                      accepted=tuple(r for r in recipients if r not in refused),
                      refused={addr: (code, _text(reply)) for addr, (code, reply) in refused.items()})


def _text(reply):
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
