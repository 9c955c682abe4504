"""Field rules shared by forms, importers and the API: normalise, then check.

Each checker returns None when the value is fine, otherwise a message in Chinese
that names the problem, so every entry path reports the same reason.
"""
import re

from .standardise import EMAIL_RE, MOBILE_RE, PHONE_RE, halfwidth

CODE_RE = re.compile(r"^[A-Z]+-[A-Z]+-[0-9]{4}-[0-9]+$")


def normalise_mobile(value):
    """'+86 138-1234-5678' -> '13812345678', full-width digits as ASCII; empty stays None.

    Lenient (search terms pass through it); standardise.mobile is the strict form for storing."""
    if value is None:
        return None
    text = re.sub(r"[\s\-()]", "", halfwidth(str(value)))
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    return text or None


def check_mobile(value):
    if value and not MOBILE_RE.match(value):
        return "手机号码格式不正确：应为 11 位数字，以 13–19 开头（可带空格、横线或 +86）"
    return None


def check_email(value):
    if value and not EMAIL_RE.match(value):
        return "邮箱格式不正确，例如 name@example.com"
    return None


def check_phone(value):
    if value and not PHONE_RE.match(value):
        return "电话格式不正确：只能包含数字、括号、横线和 +"
    return None


def check_code(value):
    if value and not CODE_RE.match(value):
        return "客户编号格式不正确：应为 区域-行业-年份-序号，例如 HB-IT-2024-001"
    return None


def check_contact_present(mobile, phone):
    if not mobile and not phone:
        return "手机号码和电话至少填写一项"
    return None
