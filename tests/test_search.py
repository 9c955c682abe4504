"""The customer search index and how search-box terms become conditions."""
import models
from admin import searching
from models import Customer, search

KINDS = {"name": "fragment", "contact": "fragment", "mobile": "mobile", "code": "prefix", "email": "email",
         "id_number": "sealed", "bank_account": "sealed"}


def found(kinds, term, clear=lambda column: True):
    condition = searching.condition(Customer, kinds, term, clear)
    if condition is None:
        return set()
    return {c.name for c in Customer.select().where(condition)}


def test_fragment_of_three_or_more_characters_matches_anywhere(make_customer):
    make_customer(name="上海浦东新区明远科技有限公司")
    make_customer(name="北京海淀区天成贸易有限公司")
    assert found(KINDS, "明远科技") == {"上海浦东新区明远科技有限公司"}
    assert found(KINDS, "海淀区") == {"北京海淀区天成贸易有限公司"}


def test_short_terms_match_by_prefix(make_customer):
    make_customer(name="张伟")
    make_customer(name="李张伟")
    assert found(KINDS, "张伟") == {"张伟"}


def test_like_wildcards_in_terms_are_literal(make_customer):
    make_customer(name="折扣50%_专享客户")
    make_customer(name="五千客户5000")
    assert found({"name": "fragment"}, "50%_") == {"折扣50%_专享客户"}
    assert found({"name": "fragment"}, "0%_专") == {"折扣50%_专享客户"}


def test_quotes_in_terms_do_not_break_the_index_query(make_customer):
    make_customer(name='引号"测试"公司')
    assert found(KINDS, '"测试"') == {'引号"测试"公司'}


def test_index_follows_updates_and_deletes(make_customer):
    customer = make_customer(name="旧名称贸易公司")
    Customer.update(name="新名称实业公司").where(Customer.id == customer.id).execute()
    assert found(KINDS, "旧名称") == set()
    assert found(KINDS, "新名称") == {"新名称实业公司"}
    customer.delete_instance()
    assert found(KINDS, "新名称") == set()


def test_mobile_full_number_or_fragment_when_clear(make_customer):
    make_customer(name="甲", mobile="13812345678")
    assert found(KINDS, "+86 138-1234-5678") == {"甲"}
    assert found(KINDS, "1234567") == {"甲"}


def test_masked_columns_match_only_their_exact_full_value(make_customer):
    make_customer(name="甲", mobile="13812345678", id_number="110101199003071234")
    masked = lambda column: column not in ("mobile", "id_number")  # noqa: E731
    assert found(KINDS, "1381234", masked) == set()
    assert found(KINDS, "5678", masked) == set()
    assert found(KINDS, "13812345678", masked) == {"甲"}
    assert found(KINDS, "110101199003071234", masked) == {"甲"}
    assert found(KINDS, "1101011990", masked) == set()


def test_code_prefix_and_email_exact(make_customer):
    make_customer(name="甲", code="HB-IT-2024-001", email="a@example.com")
    make_customer(name="乙", code="HD-IT-2024-001", email="b@example.com")
    assert found(KINDS, "hb-it") == {"甲"}
    assert found(KINDS, "b@example.com") == {"乙"}
    assert found(KINDS, "example.co") == set()  # email is exact, never a fragment


def test_several_words_must_all_match(make_customer):
    make_customer(name="广州天河星辰科技有限公司", contact="陈大文")
    make_customer(name="广州天河明月贸易有限公司", contact="陈小文")
    both = searching.terms("天河星 陈大文")
    condition = None
    for term in both:
        part = searching.condition(Customer, KINDS, term, lambda c: True)
        condition = part if condition is None else condition & part
    assert {c.name for c in Customer.select().where(condition)} == {"广州天河星辰科技有限公司"}


def test_dense_terms_switch_plan_but_not_results(make_customer):
    for i in range(search.DENSE_HITS + 5):
        make_customer(name=f"常见词汇公司{i:03d}")
    make_customer(name="其他名称")
    # Sampling picks SQLite's plan; PostgreSQL's pg_trgm index serves every term the same way.
    assert search.is_dense(["name"], "常见词汇") == models.is_sqlite()
    assert not search.is_dense(["name"], "其他名称")
    dense = found(KINDS, "常见词汇")
    indexed = {c.name for c in Customer.select().where(search.fragment_condition(["name"], "常见词汇"))}
    assert dense == indexed and len(dense) == search.DENSE_HITS + 5


def test_terms_that_cannot_match_a_column_leave_it_out_of_the_query(app):
    sql, _ = Customer.select(Customer.id).where(searching.condition(Customer, KINDS, "明远科技", lambda c: True)).sql()
    assert "email" not in sql and "digest" not in sql and '"code"' not in sql
    sql, _ = Customer.select(Customer.id).where(searching.condition(Customer, KINDS, "110101199003071234", lambda c: True)).sql()
    assert "id_number_digest" in sql and "bank_account_digest" in sql


def test_bank_card_with_spaces_is_found(make_customer):
    make_customer(name="甲", bank_account="6222021234567890123")
    assert found(KINDS, "6222 0212 3456 7890 123") == {"甲"}


def test_numbers_typed_in_groups_stay_one_term_and_words_split():
    assert searching.terms(" 138 1234 5678 ") == ["138 1234 5678"]
    assert searching.terms("+86 138-1234-5678") == ["+86 138-1234-5678"]
    assert searching.terms("11010119900307123X") == ["11010119900307123X"]
    assert searching.terms("天河星 陈大文") == ["天河星", "陈大文"]
    assert searching.terms("   ") == []
