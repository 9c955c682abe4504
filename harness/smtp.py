"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
from contextlib import contextmanager
from types import SimpleNamespace

from aiosmtpd.controller import Controller

from .network import free_port


class Recorder:
    """aiosmtpd handler: refuses nobody@ (550) and busy@ (450), keeps every accepted mail."""

    def __init__(self):
        self.mails = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@"):
            return "450 4.2.1 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(SimpleNamespace(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                                          raw=bytes(envelope.content),
                                          login=getattr(session.auth_data, "login", None)))
        return "250 Message accepted"


def start(**kwargs):
    """(controller, namespace(port, mails)): a recording server on a free loopback port, started."""
    handler, port = Recorder(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, SimpleNamespace(port=port, mails=handler.mails)


@contextmanager
def running(**kwargs):
    """A recording server for the block: namespace(port, mails)."""
    controller, server = start(**kwargs)
    try:
        yield server
    finally:
        controller.stop()
