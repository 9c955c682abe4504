"""The REST API fuzzed against its own description: schemathesis reads /api/v1/openapi.json from the app
(its WSGI interface, no mock) and, for EVERY operation the description declares (a new endpoint is fuzzed as
soon as it is registered), sends generated requests with a valid read-write token of a real role
(系统管理员, whose grant reaches every record and column).  Checks on every answer: never a 5xx, the status
is one the operation declares, the content type and the body match the declared schema.

Modest and reproducible in CI (derandomized, few examples per operation); HYPOTHESIS_PROFILE=thorough for a
long local run.  SQLite and PostgreSQL (DATABASE_URL).
"""
import datetime
import os

import pytest
import schemathesis
from schemathesis.generation.modes import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

import models
from models import Customer, CustomerTag, FollowUp, Order, Tag, User, tokens
from tests.conftest import build_app

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    application = build_app(tmp_path_factory.mktemp("api_fuzz"))
    application.config["API_RATE_PER_MINUTE"] = 1_000_000  # the limit has its own test; here it would end the run
    users = {u.username: u for u in User.select()}
    tag = Tag.create(name="重点", category="价值", source="manual")
    for n in range(6):
        customer = Customer.create(name=f"模糊客户{n}", customer_type="企业", mobile=f"1360000{n:04d}", region="华北",
                                   industry="互联网", owner=users["sales1" if n % 2 else "sales2"],
                                   first_contact=datetime.date(2024, 3, 1), annual_revenue="1000.00")
        CustomerTag.create(customer=customer, tag=tag)
        Order.create(customer=customer, order_no=f"FZ{n:06d}", ordered_at=datetime.datetime(2024, 5, 1),
                     amount="100.00", quantity=1, product="标准版", channel="线上")
        FollowUp.create(customer=customer, at=datetime.datetime(2024, 5, 2, 10), method="电话", content="回访",
                        user=users["sales1"])
    yield application
    models.db.close()
    models.db.close_all()


@pytest.fixture(scope="module")
def token_headers(fuzz_app):
    _, clear = tokens.issue(User.get(User.username == "admin"), "模糊测试", 30, "write", datetime.datetime.now())
    return {"Authorization": f"Bearer {clear}"}


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def fuzz(strategy, headers, examples):
    """Hypothesis over generated requests of one operation (a schemathesis strategy)."""

    @given(case=strategy)
    @settings(max_examples=examples * 20 if THOROUGH else examples, deadline=None, derandomize=not THOROUGH,
              print_blob=True, suppress_health_check=list(HealthCheck), database=None)
    def answers_as_described(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    answers_as_described()


def strategies(operation, known):
    """What to send one operation: valid requests anywhere (random codes mostly find nothing: 404), valid requests
    at a record that exists (its path parameters fixed to a seeded customer and tag, so the view's own work is
    fuzzed), and invalid requests (wrong types, missing fields), which must be refused as declared."""
    found = [(operation.as_strategy(), 6)]
    parameters = {p.name for p in operation.path_parameters}
    at_record = {k: v for k, v in known.items() if k in parameters}
    if parameters:
        found.append((operation.as_strategy(path_parameters=at_record), 10))
    found.append((operation.as_strategy(generation_mode=GenerationMode.NEGATIVE), 5))
    if operation.label in FREE_TEXT:
        found.append((operation.as_strategy(path_parameters=at_record).map(free_text), 8))
    return found


# Customer writes whose generated body would almost always fail a format rule (a random mobile, industry or date)
# are also sent with only their free-text fields and a valid mobile, so the write itself (any text stored,
# audited, shown back) is fuzzed, not only the refusal.
FREE_TEXT = {"POST /api/v1/customers", "PATCH /api/v1/customers/{code}"}
TEXT_FIELDS = ("name", "contact", "address", "needs", "notes", "bank_account")


def free_text(case):
    body = case.body if isinstance(case.body, dict) else {}
    case.body = {k: v for k, v in body.items() if k in TEXT_FIELDS and (v is None or isinstance(v, str))}
    case.body["mobile"] = "13812345678"
    if case.method == "POST":
        case.body.setdefault("name", "模糊新建")
    return case


def test_every_operation_answers_as_described(api_schema, token_headers):
    # schemathesis' pytest plugin (schema.parametrize over a fixture) fails on this pytest; the operations are
    # walked here instead, each its own hypothesis run, and a failure names its operation.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 4, "the description lists the API's operations"
    known = {"code": Customer.select(Customer.code).order_by(Customer.id).scalar(), "name": "重点"}
    before = Customer.select().count()
    failures = []
    for operation in operations:
        for strategy, examples in strategies(operation, known):
            try:
                fuzz(strategy, token_headers, examples)
            except Exception as error:  # noqa: BLE001 - collect every operation's failure, then report them all
                failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
    assert Customer.select().count() > before, "the free-text strategy created customers: the write path was fuzzed"
