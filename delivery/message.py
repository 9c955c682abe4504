"""Build a mail: multipart/mixed = multipart/alternative (text/plain + text/html, UTF-8) + attachments.

Inline images (the report's key chart) make the HTML part multipart/related: the HTML shows each
as <img src="cid:...">, the way common mail clients display pictures in a body (most refuse
data: URIs), and the plain-text part stays as it is.

    build_message(sender="客户分析平台 <reports@example.com>", to=["张三 <zhang@example.com>"],
                  subject="【客户价值】报表 2026-11-23", text="…", html="<p>…</p>",
                  attachments=[Attachment("客户价值-2026-11-23.html", data, "text/html")])

Headers are encoded by email.policy.SMTP: a Chinese subject or display name becomes RFC 2047
(=?utf-8?b?…?=), a Chinese attachment name RFC 2231 (filename*=utf-8''…).  Bodies are base64
so the mail is 7-bit clean and passes servers without 8BITMIME.  Message-ID and Date are set.
Without attachments the mail is just the multipart/alternative.
"""
import base64
import datetime
import mimetypes
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .addresses import parse_address, parse_addresses


@dataclass(frozen=True)
class InlineImage:
    """A picture shown in the HTML body as <img src="cid:{content_id}">."""

    content_id: str  # without angle brackets; make_content_id() gives a unique one
    content: bytes
    subtype: str = "png"
    filename: str = "chart.png"


def make_content_id(domain="crm.local"):
    """A unique Content-ID for an InlineImage (without the angle brackets)."""
    return make_msgid(domain=domain)[1:-1]


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = ""  # empty: guessed from the file name, else application/octet-stream

    @property
    def maintype_subtype(self):
        mime_type = self.mime_type or mimetypes.guess_type(self.filename)[0] or "application/octet-stream"
        return tuple(mime_type.split("/", 1))


def build_message(sender, to, subject, text, html, attachments=(), cc=(), reply_to=None, now=None, inline_images=()):
    """An EmailMessage ready for smtp.send().  Raises AddressError for a malformed address."""
    message = EmailMessage(policy=policy.SMTP)
    sender_address = parse_address(sender, "发件人")
    message["Subject"] = subject
    message["From"] = sender_address
    message["To"] = parse_addresses(to, "收件人")
    if cc:
        message["Cc"] = parse_addresses(cc, "抄送")
    if reply_to:
        message["Reply-To"] = parse_address(reply_to, "回复地址")
    message["Date"] = format_datetime(now or datetime.datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain=sender_address.domain)
    message.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    if inline_images:
        html_part = message.get_payload()[1]
        for image in inline_images:
            html_part.add_related(image.content, maintype="image", subtype=image.subtype,
                                  cid=f"<{image.content_id}>", disposition="inline", filename=image.filename)
    for attachment in attachments:
        maintype, subtype = attachment.maintype_subtype
        params = {"charset": "utf-8"} if maintype == "text" else {}
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                               filename=attachment.filename, params=params)
    return message


def html_for_browser(message):
    """The message's HTML body with its inline pictures (cid:) as data: URIs, as a mail client shows
    it: for previews in a web page, where cid: means nothing.  "" when the message has no HTML body."""
    part = message.get_body(("html",))
    if part is None:
        return ""
    html = part.get_content()
    for image in message.walk():
        content_id = (image.get("Content-ID") or "").strip("<>")
        if content_id and image.get_content_maintype() == "image":
            data = base64.b64encode(image.get_content()).decode("ascii")
            html = html.replace(f"cid:{content_id}", f"data:{image.get_content_type()};base64,{data}")
    return html
