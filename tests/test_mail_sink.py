"""The demo's local mailbox (delivery.sink, `run.py mailbox`): a real aiosmtpd server on a free
loopback port that keeps each mail as an .eml file and prints one line per mail; it refuses to
listen beyond loopback unless told; and the demo configuration points SMTP at it by default.
"""
import base64
import datetime
import email
import smtplib
import subprocess
import sys
from email import policy

import pytest

import settings as config
from delivery import build_message, from_env, sink
from tests.test_delivery_smtp import free_port
from tests.test_jobs_probe import ROOT

SUBJECT = "【客户价值】报表 2026-11-20"


@pytest.fixture
def mailbox(tmp_path):
    lines = []
    controller = sink.start(tmp_path / "mail", port=free_port(), announce=lines.append)
    yield controller, lines, tmp_path / "mail"
    controller.stop()


def test_every_mail_is_kept_as_eml_with_its_envelope_and_announced_with_its_decoded_subject(mailbox):
    controller, lines, folder = mailbox
    message = build_message("客户分析平台 <reports@example.com>", ["王经理 <wang@example.com>"], SUBJECT,
                            "关键数字：收入合计 ¥1,234", "<p>关键数字：收入合计 ¥1,234</p>")
    with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as server:
        server.send_message(message, to_addrs=["wang@example.com", "hidden@example.com"])  # one Bcc

    files = sorted(folder.glob("*.eml"))
    assert len(files) == 1 and not list(folder.glob("*.part"))
    raw = files[0].read_bytes()
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0].lower()  # the subject travelled RFC 2047-encoded
    stored = email.message_from_bytes(raw, policy=policy.default)
    assert stored["X-MailFrom"] == "reports@example.com"
    assert stored["X-RcptTo"] == "wang@example.com, hidden@example.com"
    assert stored["Subject"] == SUBJECT and stored["To"] == "王经理 <wang@example.com>"
    assert stored.get_body(("plain",)).get_content().strip() == "关键数字：收入合计 ¥1,234"
    assert len(lines) == 1
    assert f"reports@example.com → wang@example.com, hidden@example.com  {SUBJECT}  [{files[0].name}]" in lines[0]


def test_two_mails_make_two_files(mailbox):
    controller, lines, folder = mailbox
    with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as server:
        for n in (1, 2):
            server.sendmail("a@example.com", ["b@example.com"], f"Subject: n{n}\r\n\r\nbody {n}\r\n".encode())
    assert len(list(folder.glob("*.eml"))) == 2
    assert [line.split("  ")[-2] for line in lines] == ["n1", "n2"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "::ffff:192.0.2.10"])
def test_refuses_to_listen_beyond_loopback(host, tmp_path):
    with pytest.raises(sink.SinkError, match="只监听本机回环地址.*--allow-remote"):
        sink.start(tmp_path / "mail", host=host, port=free_port())
    assert not (tmp_path / "mail").exists()  # refused before anything was made


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(sink.SinkError, match="无法解析监听地址"):
        sink.check_host("no-such-host.invalid")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_addresses_are_accepted(host):
    sink.check_host(host)


def test_allow_remote_is_the_explicit_way_out():
    sink.check_host("0.0.0.0", allow_remote=True)


def test_a_port_in_use_is_a_clear_error(mailbox, tmp_path):
    controller, _, _ = mailbox
    with pytest.raises(sink.SinkError, match=f"无法监听 127.0.0.1:{controller.port}"):
        sink.start(tmp_path / "other", port=controller.port)


def test_run_py_mailbox_refuses_a_public_address_with_a_message(tmp_path):
    result = subprocess.run([sys.executable, "run.py", "mailbox", "--host", "0.0.0.0", "--dir", str(tmp_path / "m")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "只监听本机回环地址" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def demo_env(**values):
    env = {"CRM_ENV": "demo", "SECRET_KEY": "s", "FIELD_KEY": base64.b64encode(b"k" * 32).decode()}
    env.update(values)
    return env


def test_the_demo_mails_to_the_local_mailbox_unless_smtp_host_is_set():
    env = demo_env()
    config.load(env=env)
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("127.0.0.1", "8025")
    assert (from_env(env).host, from_env(env).port) == ("127.0.0.1", 8025)

    env = demo_env(SMTP_PORT="2525")  # the mailbox on another port
    config.load(env=env)
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("127.0.0.1", "2525")

    env = demo_env(SMTP_HOST="smtp.example.com", SMTP_SECURITY="starttls")  # a real server: left alone
    config.load(env=env)
    assert from_env(env).host == "smtp.example.com" and "SMTP_PORT" not in env


def test_production_gets_no_mail_default():
    env = demo_env(CRM_ENV="production")
    config.load(env=env)
    assert "SMTP_HOST" not in env



def test_the_line_decodes_any_charset_and_never_passes_terminal_escapes():
    at = datetime.datetime(2026, 11, 23, 8, 0, 5)
    gb2312 = b"Subject: =?gb2312?b?zOG9uw==?=\r\n\r\nbody\r\n"  # 提交, as older mail programs encode it
    assert sink.summary_line(at, "a@example.com", ["b@example.com"], gb2312) == (
        "2026-11-23 08:00:05  a@example.com → b@example.com  提交")
    escape = b"Subject: \x1b[2Jcleared\r\n\r\nbody\r\n"
    assert sink.summary_line(at, "a@example.com", ["b@example.com"], escape).endswith("  [2Jcleared")
    assert sink.summary_line(at, "a@example.com", ["b@example.com"], b"\r\nno headers\r\n").endswith("（无主题）")
