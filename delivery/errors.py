"""Typed failures of mail delivery.  Messages are for people (Chinese); `retryable` is for jobs.

    DeliveryError            base class; retryable = False
    ├── SettingsError        SMTP_* / MAIL_SENDER are wrong (also a ValueError)
    ├── AddressError         a malformed sender or recipient address (also a ValueError)
    ├── ReportNotReady       the run failed, is unfinished, or its HTML is missing: nothing half-built is sent
    ├── SmtpUnavailable      retryable: no connection, timed out, disconnected, or a 4xx (temporary) reply
    └── SmtpRejected         permanent: login refused, TLS failed, sender/all recipients/data refused with 5xx

A job retries with backoff when `error.retryable` is true and gives up (and tells someone) otherwise.
"""


class DeliveryError(Exception):
    """Mail could not be built or sent.  str(error) says why, in Chinese."""

    retryable = False


class SettingsError(DeliveryError, ValueError):
    """The SMTP settings in the environment are invalid."""


class AddressError(DeliveryError, ValueError):
    """One or more e-mail addresses are malformed; `addresses` lists them as given."""

    def __init__(self, message, addresses=()):
        super().__init__(message)
        self.addresses = tuple(addresses)


class ReportNotReady(DeliveryError):
    """The report run cannot be mailed: not finished successfully, or its HTML file is missing."""


class SmtpError(DeliveryError):
    """The SMTP conversation failed.  `code` and `reply` are the server's answer when there was one."""

    def __init__(self, message, code=None, reply="", refused=None):
        super().__init__(message)
        self.code = code
        self.reply = reply
        self.refused = dict(refused or {})  # address -> (code, reply) when recipients were refused


class SmtpUnavailable(SmtpError):
    """Temporary: the server cannot be reached or asked to try later.  Retry with backoff."""

    retryable = True


class SmtpRejected(SmtpError):
    """Permanent: retrying the same mail with the same settings will fail the same way."""
