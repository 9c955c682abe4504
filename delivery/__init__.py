"""Mail delivery of reports: SMTP settings from the environment, multipart mails, sending.

    from delivery import compose, from_env, send
    settings = from_env()                              # SMTP_* and MAIL_SENDER (os.environ or any mapping)
    message = compose(run, "张三 <zhang@example.com>", settings.sender)   # a finished ReportRun
    result = send(message, settings)                   # SendResult(accepted, refused)

Failures are DeliveryError subclasses (delivery.errors) with Chinese messages; a job retries
when `error.retryable` (SmtpUnavailable) and gives up otherwise (SmtpRejected, ReportNotReady,
SettingsError, AddressError).  This package never imports Flask.
"""
from .addresses import parse_address, parse_addresses
from .errors import (AddressError, DeliveryError, ReportNotReady, SettingsError, SmtpError, SmtpRejected,
                     SmtpUnavailable)
from .message import Attachment, build_message
from .report_mail import compose, read_summary, run_facts
from .settings import SmtpSettings, from_env
from .smtp import SendResult, send

__all__ = ["AddressError", "Attachment", "DeliveryError", "ReportNotReady", "SendResult", "SettingsError",
           "SmtpError", "SmtpRejected", "SmtpSettings", "SmtpUnavailable", "build_message", "compose", "from_env",
           "parse_address", "parse_addresses", "read_summary", "run_facts", "send"]
