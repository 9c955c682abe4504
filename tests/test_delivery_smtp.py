"""Sending over a real SMTP server (aiosmtpd) on loopback: plain, STARTTLS with login, implicit SSL,
certificate checks, refused recipients, nothing listening — and a real report run mailed end to end.

Each server binds a free port found by binding port 0; TLS uses a self-signed certificate made
here for 127.0.0.1, trusted through SMTP_CA_FILE exactly as an operator would configure it.
"""
import datetime
import email
import ipaddress
import ssl
from email import policy

import nbformat
import pytest
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import delivery
import harness.smtp
import reporting
from delivery import Attachment, SmtpRejected, SmtpSettings, SmtpUnavailable, build_message, send
from harness.network import free_port
from harness.smtp import Recorder  # noqa: F401 (other tests import it from here)

SENDER = "客户分析平台 <reports@example.com>"
USER, PASSWORD = "reports", "s3cret pass"


def check_login(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)  # failure: 535


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """(cert.pem, key.pem) of a self-signed certificate for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def server_tls(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def smtp_server():
    """start(**controller_kwargs) -> namespace(port, mails): a real SMTP server on 127.0.0.1, stopped after the test."""
    controllers = []

    def start(**kwargs):
        controller, server = harness.smtp.start(**kwargs)
        controllers.append(controller)
        return server

    yield start
    for controller in controllers:
        controller.stop()


def settings_for(server, **values):
    return SmtpSettings(host="127.0.0.1", port=server.port, sender=SENDER, timeout=10, **values)


def parsed(mail):
    return email.message_from_bytes(mail.raw, policy=policy.default)


def bodies(message):
    """(plain text, html) of a received mail."""
    return (message.get_body(("plain",)).get_content().replace("\r\n", "\n"),
            message.get_body(("html",)).get_content().replace("\r\n", "\n"))


def sample(to=("张三 <zhang@example.com>", "li@example.com"), cc=()):
    return build_message(sender=SENDER, to=list(to), cc=list(cc), subject="【客户价值】报表 2026-11-23",
                         text="关键数字\n  客户数：1,234\n", html="<p>关键数字：<b>客户数 1,234</b></p>",
                         attachments=[Attachment("客户价值报表-2026-11-23.html", "<h1>报表正文</h1>".encode(), "text/html")])


# --- transport --------------------------------------------------------------------------------
def test_plain_smtp_delivers_the_multipart_chinese_mail(smtp_server):
    server = smtp_server()
    result = send(sample(cc=["王五 <wang@example.com>"]), settings_for(server))
    assert result.accepted == ("zhang@example.com", "li@example.com", "wang@example.com") and result.refused == {}

    [mail] = server.mails
    assert mail.mail_from == "reports@example.com"
    assert mail.rcpt_tos == ["zhang@example.com", "li@example.com", "wang@example.com"]
    assert mail.raw.isascii()  # headers RFC 2047/2231, bodies base64: safe for any relay
    message = parsed(mail)
    assert message["Subject"] == "【客户价值】报表 2026-11-23"
    assert message["From"].addresses[0].display_name == "客户分析平台"
    assert [a.display_name for a in message["To"].addresses] == ["张三", ""]
    assert message["Message-ID"] == result.message_id and message["Date"]
    assert message.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in message.iter_parts()] == ["multipart/alternative", "text/html"]
    text, html = bodies(message)
    assert text == "关键数字\n  客户数：1,234\n"
    assert html == "<p>关键数字：<b>客户数 1,234</b></p>\n"
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "客户价值报表-2026-11-23.html"
    assert b"filename*0*=utf-8''%E5%AE%A2" in mail.raw  # RFC 2231, with continuations
    assert attachment.get_content_type() == "text/html"
    assert attachment.get_payload(decode=True).decode("utf-8") == "<h1>报表正文</h1>"


def test_starttls_with_login(smtp_server, server_tls, certificate):
    server = smtp_server(tls_context=server_tls, require_starttls=True, auth_required=True,
                         authenticator=check_login)
    settings = settings_for(server, security="starttls", user=USER, password=PASSWORD, ca_file=certificate[0])
    result = send(sample(), settings)
    assert result.accepted == ("zhang@example.com", "li@example.com")
    [mail] = server.mails
    assert mail.login == USER.encode()
    assert parsed(mail)["Subject"] == "【客户价值】报表 2026-11-23"


def test_wrong_password_is_a_permanent_rejection(smtp_server, server_tls, certificate):
    server = smtp_server(tls_context=server_tls, require_starttls=True, auth_required=True,
                         authenticator=check_login)
    settings = settings_for(server, security="starttls", user=USER, password="wrong", ca_file=certificate[0])
    with pytest.raises(SmtpRejected, match="SMTP 登录失败（用户 reports）：535") as caught:
        send(sample(), settings)
    assert not caught.value.retryable and caught.value.code == 535
    assert server.mails == []


def test_implicit_ssl(smtp_server, server_tls, certificate):
    server = smtp_server(ssl_context=server_tls)
    send(sample(), settings_for(server, security="ssl", ca_file=certificate[0]))
    [mail] = server.mails
    assert bodies(parsed(mail))[0] == "关键数字\n  客户数：1,234\n"


def test_a_certificate_the_client_does_not_trust_is_refused(smtp_server, server_tls):
    server = smtp_server(ssl_context=server_tls)
    with pytest.raises(SmtpRejected, match="证书验证失败") as caught:
        send(sample(), settings_for(server, security="ssl"))  # system CAs only
    assert not caught.value.retryable
    assert server.mails == []


def test_ssl_against_a_plain_server_is_refused(smtp_server):
    server = smtp_server()
    with pytest.raises(SmtpRejected, match="TLS 握手失败.*检查 SMTP_SECURITY 与 SMTP_PORT"):
        send(sample(), settings_for(server, security="ssl"))


def test_starttls_against_a_server_without_it_is_refused(smtp_server):
    server = smtp_server()
    with pytest.raises(SmtpRejected, match="不支持 STARTTLS"):
        send(sample(), settings_for(server, security="starttls"))


def test_nothing_listening_is_retryable():
    port = free_port()  # bound and released: nothing listens there now
    with pytest.raises(SmtpUnavailable, match=f"无法连接邮件服务器 127.0.0.1:{port}") as caught:
        send(sample(), SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, timeout=10))
    assert caught.value.retryable


def test_a_refused_recipient_is_reported_and_the_others_get_the_mail(smtp_server):
    server = smtp_server()
    result = send(sample(to=["zhang@example.com", "nobody@example.com"]), settings_for(server))
    assert result.accepted == ("zhang@example.com",)
    assert result.refused == {"nobody@example.com": (550, "5.1.1 No such user")}
    [mail] = server.mails
    assert mail.rcpt_tos == ["zhang@example.com"]


def test_every_recipient_refused_is_permanent(smtp_server):
    server = smtp_server()
    with pytest.raises(SmtpRejected, match="拒绝了全部收件人：nobody@example.com（550") as caught:
        send(sample(to=["nobody@example.com"]), settings_for(server))
    assert caught.value.refused == {"nobody@example.com": (550, "5.1.1 No such user")}
    assert server.mails == []


def test_every_recipient_refused_for_now_is_retryable(smtp_server):
    server = smtp_server()
    with pytest.raises(SmtpUnavailable, match="busy@example.com（450") as caught:
        send(sample(to=["busy@example.com"]), settings_for(server))
    assert caught.value.retryable


def test_settings_from_the_environment_reach_the_server(smtp_server, server_tls, certificate):
    server = smtp_server(tls_context=server_tls, require_starttls=True, auth_required=True,
                         authenticator=check_login)
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(server.port), "SMTP_SECURITY": "STARTTLS",
           "SMTP_USER": USER, "SMTP_PASSWORD": PASSWORD, "MAIL_SENDER": SENDER, "SMTP_CA_FILE": certificate[0]}
    send(sample(), delivery.from_env(env))
    assert len(server.mails) == 1


# --- a real report run, mailed ----------------------------------------------------------------
@pytest.fixture
def summary_report(reports, tmp_path):
    """A registered report whose notebook prints key numbers on a SUMMARY= line."""
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                 "language": "python"}})
    parameters = nbformat.v4.new_code_cell('as_of = ""\nregions = []\n'
                                           'owner_ids = None\nsuppress_below = 0\ncolumn_access = {}')  # its scope
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(
        'import json\nprint("正文-MARKER")\n'
        'print("SUMMARY=" + json.dumps({"客户数": 1234, "CLV 合计": "¥56,789", "地区": regions}, ensure_ascii=False))')]
    path = tmp_path / "summary.ipynb"
    nbformat.write(notebook, str(path))
    reporting.register("summary", str(path), "客户价值：测试用摘要")
    yield "summary"
    reporting.unregister("summary")


def test_a_finished_report_is_mailed_with_its_key_numbers_and_attachment(app, summary_report, smtp_server):
    server = smtp_server()
    with app.app_context():
        run = reporting.run_report("summary", {"as_of": "2026-11-20", "regions": "华北,华东"}, config=app.config)
    assert run.status == "success", run.error
    settings = settings_for(server)

    result = send(delivery.compose(run, "张三 <zhang@example.com>; li@example.com", settings.sender), settings)

    assert result.accepted == ("zhang@example.com", "li@example.com")
    [mail] = server.mails
    assert mail.rcpt_tos == ["zhang@example.com", "li@example.com"]
    message = parsed(mail)
    assert message["Subject"] == "【客户价值】报表 2026-11-20"
    text, html = bodies(message)
    for body in (text, html):
        assert "客户数" in body and "1,234" in body and "¥56,789" in body and "华北、华东" in body
        assert run.run_id in body and "全部客户" in body
    assert "关键数字\n  客户数：1,234\n  CLV 合计：¥56,789\n  地区：华北、华东\n" in text
    assert "<a " not in html and "<script" not in html and "<img" not in html
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "客户价值报表-2026-11-20.html"
    content = attachment.get_payload(decode=True)
    assert content == open(run.html_path, "rb").read() and "正文-MARKER".encode() in content


def test_a_report_without_key_numbers_is_mailed_with_the_run_facts(app, reports, smtp_server, make_customer):
    make_customer()
    server = smtp_server()
    with app.app_context():
        run = reporting.run_report("echo", {"regions": "华北"}, config=app.config)
    assert run.status == "success", run.error
    settings = settings_for(server)
    send(delivery.compose(run, ["ops@example.com"], settings.sender), settings)

    message = parsed(server.mails[0])
    today = run.started_at.strftime("%Y-%m-%d")
    assert message["Subject"] == f"【打印参数】报表 {today}"
    text, html = bodies(message)
    assert "关键数字" not in text and "关键数字" not in html
    for body in (text, html):
        assert "地区 华北" in body and "客户 1 条" in body and run.run_id in body
    assert next(message.iter_attachments()).get_filename() == f"打印参数报表-{today}.html"


def test_a_failed_run_is_never_mailed(app, reports, smtp_server):
    server = smtp_server()
    with app.app_context():
        run = reporting.run_report("fails", {}, config=app.config)
    with pytest.raises(delivery.ReportNotReady, match="状态为 失败，不发送邮件：ValueError: boom-42"):
        delivery.compose(run, ["ops@example.com"], SENDER)
    assert server.mails == []
