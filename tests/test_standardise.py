"""models.standardise: one cleaning of values for forms, imports and the API."""
import datetime
from decimal import Decimal

import pytest

import models
from models import standardise
from models.standardise import StandardError


@pytest.mark.parametrize("raw,expected", [
    ("  ＡＢＣ科技有限公司　", "ABC科技有限公司"),
    ("北京（朝阳）有限公司", "北京(朝阳)有限公司"),  # full-width brackets are full-width ASCII forms
    ("《客户》、说明。", "《客户》、说明。"),  # CJK punctuation is not: kept
    ("①号楼", "①号楼"),  # circled digits are chosen, not slipped in: kept (NFKC would change it)
    ("", None), ("   ", None), (None, None),
])
def test_text_trims_and_folds_full_width_ascii_only(raw, expected):
    assert standardise.text(raw) == expected


@pytest.mark.parametrize("raw", ["13812345678", "+86 138-1234-5678", "0086 13812345678", "8613812345678",
                                 "138 1234 5678", "13８１２３４５６７８", "（138）1234-5678".replace("（", "(").replace("）", ")"),
                                 "＋８６１３８１２３４５６７８"])
def test_mobiles_become_eleven_ascii_digits(raw):
    assert standardise.mobile(raw) == "13812345678"


@pytest.mark.parametrize("raw", ["1381234567", "23812345678", "138123456789", "138١٢٣٤٥٦٧٨", "phone", "12812345678"])
def test_bad_mobiles_are_refused_with_a_reason(raw):
    with pytest.raises(StandardError, match="手机号码格式不正确"):
        standardise.mobile(raw)


def test_validation_no_longer_accepts_non_ascii_digits():
    from models import validation

    assert validation.check_mobile("13８12345678") is not None
    assert validation.check_mobile("13812345678") is None
    assert validation.normalise_mobile("13８1234５678") == "13812345678"


def test_email_is_lower_cased_and_checked():
    assert standardise.email(" Li.Ming@Example.COM ") == "li.ming@example.com"
    assert standardise.email("ｌｉ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "li@example.com"
    with pytest.raises(StandardError, match="邮箱格式不正确"):
        standardise.email("li@example")


@pytest.mark.parametrize("raw,expected", [
    ("2024-01-15", datetime.date(2024, 1, 15)), ("2024/1/15", datetime.date(2024, 1, 15)),
    ("2024.1.5", datetime.date(2024, 1, 5)), ("2024年1月15日", datetime.date(2024, 1, 15)),
    ("２０２４年１月１５日", datetime.date(2024, 1, 15)), ("20240115", datetime.date(2024, 1, 15)),
    (45306, datetime.date(2024, 1, 15)), ("45306", datetime.date(2024, 1, 15)), (45306.75, datetime.date(2024, 1, 15)),
    ("2024-01-15 14:30", datetime.date(2024, 1, 15)),
    (datetime.datetime(2024, 1, 15, 9, 0), datetime.date(2024, 1, 15)), ("", None),
])
def test_dates_in_the_forms_people_write(raw, expected):
    assert standardise.date(raw) == expected


@pytest.mark.parametrize("raw,message", [("2024-02-30", "日期不存在"), ("下周一", "日期无法识别"), ("0", "日期无法识别"),
                                         ("3000000", "日期无法识别")])
def test_impossible_dates_are_refused(raw, message):
    with pytest.raises(StandardError, match=message):
        standardise.date(raw)


def test_moments_keep_the_time_and_excel_fractions():
    assert standardise.moment("2024/1/15 14:30") == datetime.datetime(2024, 1, 15, 14, 30)
    assert standardise.moment("2024-01-15") == datetime.datetime(2024, 1, 15)
    assert standardise.moment(45306.75) == datetime.datetime(2024, 1, 15, 18, 0)


@pytest.mark.parametrize("raw,expected", [
    ("1,234.50", Decimal("1234.50")), ("¥1,234", Decimal("1234.00")), ("￥ 88", Decimal("88.00")),
    ("1234元", Decimal("1234.00")), (12.345, Decimal("12.35")), ("１２３", Decimal("123.00")), ("-5", Decimal("-5.00")),
])
def test_amounts_with_separators_and_currency_marks(raw, expected):
    assert standardise.amount(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "NaN", "Infinity"])
def test_bad_amounts_are_refused(raw):
    with pytest.raises(StandardError, match="金额无法识别"):
        standardise.amount(raw)


SPELLINGS = {  # what the fast paths read by slicing or one pattern, and their near misses (the general path's)
    "moment": ["2024-01-15", "2024-01-15 14:30", "2024-01-15 14:30:05", "2024-01-15T14:30", "2024-01-15T14:30:05",
               "2024-13-01", "2024-02-30 10:00", "2024-01-15 25:00", "2024-01-15 14:30:61", "0000-01-01",
               "2024-1-15", "2024-01-15 1:30", " 2024-01-15", "2024-01-15x", "abcd-01-15", "2024-01-15 14:3a",
               "2024-01-15 14:30:5", "2024-01-15  14:30", "2024-01-15 14:30.5", "2024-01-1５", "+024-01-15",
               "2024-+1-15", "2024-01-15 +1:30", "2024/01/15 14:30"],
    "amount": ["¥7,354.80", "76,033.00", "1234元", "1234.5", "1234.505", "0.005", "1,23", "12,345,678.9",
               "¥1,234元", "007", "1.", " .5", ".5", "-500", "¥", "元", "1,2345", "1234.50元", "￥1,000", "１２３",
               "1,234.5.6", "¥-5", "RMB 12", "12 元"],
}


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_the_fast_paths_give_what_the_general_path_gives(name, monkeypatch):
    """moment() and amount() read the common spellings first (slicing, one pattern); every spelling gives the
    same value, and the same message for a bad one, as with the fast path switched off."""
    def outcome(value):
        try:
            result = getattr(standardise, name)(value)
            return "ok", result, str(result)
        except StandardError as error:
            return "error", str(error)

    fast = [outcome(value) for value in SPELLINGS[name]]
    if name == "moment":
        monkeypatch.setattr(standardise, "_fast_moment", lambda value: None)
    else:
        monkeypatch.setattr(standardise, "_PLAIN_AMOUNT", __import__("re").compile("(?!)"))
    assert fast == [outcome(value) for value in SPELLINGS[name]]
    assert ("ok", Decimal("7354.80"), "7354.80") in fast or name == "moment"


def test_managed_list_values_by_name_code_and_synonym(app):
    assert standardise.choice("industry", "互联网") == "互联网"
    assert standardise.choice("industry", "IT") == "互联网"
    assert standardise.choice("industry", "it") == "互联网"
    assert standardise.choice("industry", "信息技术") == "互联网"
    assert standardise.choice("region", "浙江") == "华东"
    assert standardise.choice("region", "HB") == "华北"
    with pytest.raises(StandardError, match="“航天”不在列表中，可选：互联网、制造"):
        standardise.choice("industry", "航天")


def test_an_admins_synonym_counts_and_is_kept_by_init_db(app):
    from web.setup import init_db

    models.Choice.update(aliases="航天,航空航天").where(
        (models.Choice.kind == "industry") & (models.Choice.name == "制造")).execute()
    init_db()
    assert standardise.choice("industry", "航天") == "制造"


def test_fixed_lists_have_synonyms_too():
    assert standardise.choice("status", "已成交") == "成交客户"
    assert standardise.choice("method", "上门拜访") == "拜访"
    assert standardise.choice("result", "无意向") == "暂无意向"
    assert standardise.choice("customer_type", "公司") == "企业"


def test_the_customer_form_stores_standardised_values(app, login):
    client = login("admin")
    response = client.submit("/admin/customer/new/", {
        "name": "  ＡＢＣ科技  ", "customer_type": "企业", "mobile": "13８１２３４５６７８", "email": "LI@EXAMPLE.COM",
        "industry": "互联网", "region": "华北", "source": "展会", "status": "潜在客户"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    customer = models.Customer.get(models.Customer.name == "ABC科技")
    assert customer.mobile == "13812345678" and customer.email == "li@example.com"


def test_the_customer_form_refuses_a_bad_mobile_with_the_standard_message(app, login):
    client = login("admin")
    response = client.submit("/admin/customer/new/", {
        "name": "某公司", "customer_type": "企业", "mobile": "138１２３", "industry": "互联网", "region": "华北",
        "source": "展会", "status": "潜在客户"})
    assert response.status_code == 200
    assert "手机号码格式不正确" in response.get_data(as_text=True)
    assert not models.Customer.select().where(models.Customer.name == "某公司").exists()
