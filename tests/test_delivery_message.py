"""SMTP settings from the environment, address checks and the structure of a built mail (no server)."""
import datetime
from email import policy
from email.parser import BytesParser

import pytest

from delivery import (AddressError, Attachment, SettingsError, SmtpSettings, build_message, from_env,
                      parse_address, parse_addresses)

SENDER = "客户分析平台 <reports@example.com>"


# --- settings ---------------------------------------------------------------------------------
def test_defaults_are_a_local_relay_without_tls():
    settings = from_env({})
    assert (settings.host, settings.port, settings.security) == ("localhost", 25, "none")
    assert (settings.user, settings.password, settings.timeout, settings.ca_file) == ("", "", 30.0, "")
    assert settings.sender == "客户分析平台 <reports@localhost>"


@pytest.mark.parametrize("security,port", [("starttls", 587), ("ssl", 465), ("SSL", 465), ("", 25)])
def test_the_default_port_follows_the_security_mode(security, port):
    assert from_env({"SMTP_SECURITY": security}).port == port


def test_every_variable_is_read_from_any_mapping(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    settings = from_env({"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "2525", "SMTP_SECURITY": " starttls ",
                         "SMTP_USER": "reports", "SMTP_PASSWORD": " p w ", "MAIL_SENDER": SENDER,
                         "SMTP_TIMEOUT": "7.5", "SMTP_CA_FILE": str(ca)})
    assert settings == SmtpSettings(host="smtp.example.com", port=2525, security="starttls", user="reports",
                                    password=" p w ", sender=SENDER, timeout=7.5, ca_file=str(ca))
    assert settings.sender_address.addr_spec == "reports@example.com"
    assert "p w" not in repr(settings)  # the password stays out of logs


def test_the_process_environment_is_the_default(monkeypatch):
    monkeypatch.setenv("SMTP_HOST", "mail.internal")
    monkeypatch.setenv("SMTP_PORT", "2526")
    assert (from_env().host, from_env().port) == ("mail.internal", 2526)


@pytest.mark.parametrize("env,message", [
    ({"SMTP_PORT": "smtp"}, "SMTP_PORT 应为 1–65535 之间的整数，而不是 'smtp'"),
    ({"SMTP_PORT": "0"}, "SMTP_PORT 应为 1–65535 之间的整数，而不是 0"),
    ({"SMTP_PORT": "70000"}, "SMTP_PORT 应为 1–65535 之间的整数"),
    ({"SMTP_SECURITY": "tls"}, "SMTP_SECURITY 应为 none / starttls / ssl 之一，而不是 'tls'"),
    ({"MAIL_SENDER": "reports"}, "MAIL_SENDER 无效：'reports'"),
    ({"MAIL_SENDER": "a@example.com, b@example.com"}, "MAIL_SENDER 无效"),
    ({"SMTP_USER": "reports", "SMTP_SECURITY": "starttls"}, "设置了 SMTP_USER 却没有 SMTP_PASSWORD"),
    ({"SMTP_PASSWORD": "x"}, "设置了 SMTP_PASSWORD 却没有 SMTP_USER"),
    ({"SMTP_USER": "u", "SMTP_PASSWORD": "密码", "SMTP_SECURITY": "ssl"}, "只能包含 ASCII 字符"),
    ({"SMTP_HOST": "smtp.example.com", "SMTP_USER": "u", "SMTP_PASSWORD": "p"},
     "登录 smtp.example.com 需要 SMTP_SECURITY=starttls 或 ssl"),
    ({"SMTP_TIMEOUT": "soon"}, "SMTP_TIMEOUT 应为大于 0 的秒数"),
    ({"SMTP_TIMEOUT": "-1"}, "SMTP_TIMEOUT 应为大于 0 的秒数"),
    ({"SMTP_CA_FILE": "/nonexistent/ca.pem"}, "SMTP_CA_FILE 文件不存在"),
])
def test_bad_settings_are_refused_with_a_message_naming_the_variable(env, message):
    with pytest.raises(SettingsError) as caught:
        from_env(env)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError) and not caught.value.retryable


def test_a_login_to_a_relay_on_this_machine_may_go_without_tls():
    assert from_env({"SMTP_USER": "u", "SMTP_PASSWORD": "p"}).user == "u"


# --- addresses --------------------------------------------------------------------------------
def test_addresses_as_people_type_them():
    found = parse_addresses(['张三 <zhang@example.com>; li@example.com', '"王, 五" <wang@example.cn>',
                             "ZHANG@example.com"])
    assert [(a.display_name, a.addr_spec) for a in found] == [
        ("张三", "zhang@example.com"), ("", "li@example.com"), ("王, 五", "wang@example.cn")]  # duplicate dropped


def test_every_malformed_address_is_named():
    with pytest.raises(AddressError) as caught:
        parse_addresses("ok@example.com, bad@@example.com; 张三 zhang@example.com, 用户@例子.cn, x@")
    assert caught.value.addresses == ("bad@@example.com", "张三 zhang@example.com", "用户@例子.cn", "x@")
    assert str(caught.value).startswith("收件人地址无效：bad@@example.com、张三 zhang@example.com、用户@例子.cn、x@")


def test_no_recipient_at_all_is_refused():
    with pytest.raises(AddressError, match="没有收件人地址"):
        parse_addresses(" ; ")


def test_one_sender():
    assert parse_address("报表 <r@example.com>").display_name == "报表"
    with pytest.raises(AddressError, match="发件人只能有一个地址"):
        parse_address("a@example.com, b@example.com")


# --- the mail ---------------------------------------------------------------------------------
def test_a_mail_is_mixed_alternative_plus_attachments():
    sent_at = datetime.datetime(2026, 11, 23, 8, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    message = build_message(SENDER, "张三 <zhang@example.com>", "【客户价值】报表 2026-11-23", "正文", "<p>正文</p>",
                            attachments=[Attachment("客户价值报表-2026-11-23.html", "<h1>报表</h1>".encode()),
                                         Attachment("明细.bin", b"\x00\x01")],
                            cc="李四 <li@example.com>", reply_to="ops@example.com", now=sent_at)
    raw = message.as_bytes()
    assert raw.isascii()
    received = BytesParser(policy=policy.default).parsebytes(raw)
    assert received["Subject"] == "【客户价值】报表 2026-11-23"
    assert b"Subject: =?utf-8?" in raw  # RFC 2047
    assert received["Cc"].addresses[0].display_name == "李四" and received["Reply-To"] == "ops@example.com"
    assert received["Date"].datetime == sent_at
    assert received["Message-ID"].endswith("@example.com>")
    assert [p.get_content_type() for p in received.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/html",
        "application/octet-stream"]
    for part in received.get_body(("plain",)), received.get_body(("html",)):
        assert part.get_content_charset() == "utf-8" and part["Content-Transfer-Encoding"] == "base64"
    html_file, binary = received.iter_attachments()
    assert html_file.get_filename() == "客户价值报表-2026-11-23.html" and html_file.get_content_charset() == "utf-8"
    assert binary.get_filename() == "明细.bin" and binary.get_payload(decode=True) == b"\x00\x01"


def test_without_attachments_the_mail_is_just_the_alternative():
    message = build_message(SENDER, ["a@example.com"], "主题", "文本", "<p>HTML</p>")
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "文本"


def test_a_malformed_recipient_stops_the_mail():
    with pytest.raises(AddressError, match="收件人地址无效：not-an-address"):
        build_message(SENDER, ["a@example.com", "not-an-address"], "主题", "文本", "<p>HTML</p>")
