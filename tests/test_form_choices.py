"""Nullable drop-downs in the admin forms (跟进结果, a transition's 新状态, the customer's 所属行业 / 所属地区 /
客户来源): a blank post (empty or only whitespace) is no value, NULL, as the browser's empty option is; a value
outside the choices is a Chinese field error and changes nothing.  Posted through the real client with the
form's CSRF token, on create and on edit, as an admin.

wtforms' Optional took a whitespace-only post for "not filled in" and skipped the choice check, so " " was stored
as " " (admin/secured.py, IdCheckingConverter; the NOT NULL drop-downs' half is ChoiceOptional, kept by
tests/test_badinput_forms.py).  The drop-downs are found from the forms and the models, not listed by hand.
SQLite and PostgreSQL (DATABASE_URL)."""
import datetime
import itertools

import peewee
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import models
import pipeline.seed
from models import Choice, Customer, FollowUp, User
from tests import badinput_support as bs
from tests import policy_support as ps

BLANKS = st.text(alphabet=" \t\r\n\u3000\u00a0\x0b\x0c", max_size=4)  # "" included
# Unique or duplicate-checked columns a copy of a record must not repeat to be saved as a new record.
_serial = itertools.count(1)
FRESH = {
    "customer": lambda n: {"code": "", "name": f"下拉选项测试{n:03d}号", "mobile": f"1376{n:07d}"},
    "pipelinerule": lambda n: {"name": f"下拉选项测试流转{n:03d}"},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The app, an admin's client, one record per screen with a nullable drop-down (its value set), and the
    drop-downs found: (endpoint, model, field, record id, original value)."""
    app = ps.build_app(tmp_path_factory.mktemp("form-choices"))
    with app.app_context():
        pipeline.seed.seed_transitions()  # 首次下单成交 (to a status) and 报价待成交 (a tag, no status)
        owner = User.get(User.username == "sales1")
        customer = Customer.create(
            name="下拉选项测试客户", customer_type="企业", mobile="13760000000", owner=owner,
            industry=Choice.names("industry")[0], region=Choice.names("region")[0], source=Choice.names("source")[0],
            first_contact=datetime.date(2026, 3, 1))
        FollowUp.create(customer=customer, at=datetime.datetime(2026, 11, 2, 10, 0), method="电话", content="报价",
                        result="已报价", user=owner)
    client = ps.login_client(app, "admin")
    targets = []
    with app.app_context():
        for view in bs.model_views(app):
            model = getattr(view, "model", None)
            if model is None or "create" not in _routes(app, view.endpoint):
                continue
            form = bs.Form(client.get(f"/admin/{view.endpoint}/new/").get_data(as_text=True))
            for name in sorted(n for n, kind in form.editable.items() if kind == "select"):
                column = model._meta.fields.get(name)
                if column is None or not column.null or isinstance(column, peewee.ForeignKeyField):
                    continue
                for record in model.select().order_by(model.id):
                    targets.append((view.endpoint, model, name, record.id, getattr(record, name)))
    yield app, client, targets
    models.db.close()


def _routes(app, endpoint):
    kinds = {kind for found, kind in bs.form_routes(app) if found == endpoint}
    return {"create" if kind == "new" else kind for kind in kinds}


def test_the_nullable_drop_downs_are_found(world):
    """Every nullable column with choices that a form edits is swept (Task.closed_reason is set by the task
    screens' own buttons, never by a form), and so are the customer's list drop-downs."""
    app, _client, targets = world
    found = {(model.__name__, name) for _endpoint, model, name, *_ in targets}
    assert {("FollowUp", "result"), ("PipelineTransition", "to_status"), ("Customer", "industry"),
            ("Customer", "region"), ("Customer", "source")} <= found
    in_forms = {(view.model.__name__, name) for view in bs.model_views(app) if getattr(view, "model", None)
                for name in getattr(view, "form_fields", ())}
    for model in models.ALL_MODELS:
        for name, column in model._meta.fields.items():
            if column.choices and column.null and (model.__name__, name) in in_forms:
                assert (model.__name__, name) in found, f"{model.__name__}.{name}: a nullable drop-down not swept"
    statuses = [original for _e, _m, name, _id, original in targets if name == "to_status"]
    assert None in statuses and any(statuses), "transitions to a status and to a tag are both swept"


def _post(app, client, target, value, kind):
    """Post `value` for the drop-down on the record's edit form, or on its new form filled as a copy of the
    record.  Returns (response, stored value of the field or the string "nothing saved", snapshot equal?)."""
    endpoint, model, name, record_id, original = target
    with app.app_context():
        model.update({name: original}).where(model.id == record_id).execute()  # each example starts from it
    edit_url = f"/admin/{endpoint}/edit/?id={record_id}"
    pairs = bs.Form(client.get(edit_url).get_data(as_text=True)).with_value(name, value)
    with app.app_context():
        before = bs.snapshot([(model, record_id)])
        last = model.select(peewee.fn.MAX(model.id)).scalar()
    url = edit_url
    if kind == "create":
        fresh = FRESH.get(endpoint, lambda n: {})(next(_serial))
        pairs = [(n, v) for n, v in pairs if n not in fresh] + list(fresh.items())
        url = f"/admin/{endpoint}/new/"
    response = bs.post_pairs(client, url, pairs)
    assert response.status_code in (200, 302), (url, name, value, response.status_code)
    with app.app_context():
        unchanged = bs.snapshot([(model, record_id)]) == before
        if kind == "edit":
            stored = model.get_by_id(record_id).__data__[name]
        else:
            row = model.select().where(model.id > (last or 0)).order_by(model.id.desc()).first()
            stored = "nothing saved" if row is None else row.__data__[name]
    return response, stored, unchanged


def _refused_in_chinese(response, unchanged, what):
    assert response.status_code == 200, what
    assert unchanged, f"{what}: refused but changed something"
    messages = bs.messages_of(response.get_data(as_text=True))
    assert any(bs.has_chinese(m) for m in messages), f"{what}: no Chinese message in {messages}"


def _blank_is_null(app, client, target, value, kind):
    response, stored, unchanged = _post(app, client, target, value, kind)
    endpoint, _model, name, _record_id, original = target
    what = f"{kind} {endpoint}.{name}={value!r}"
    if endpoint == "pipelinerule" and original:
        # A transition to a status (or a copy of one) needs one: NULL is refused by pipeline.check.
        _refused_in_chinese(response, unchanged, what)
        return
    assert response.status_code == 302, f"{what}: {bs.messages_of(response.get_data(as_text=True))}"
    assert stored is None, f"{what} stored as {stored!r}"


@pytest.mark.parametrize("kind", ["create", "edit"])
def test_a_space_is_stored_as_nothing(world, kind):
    """The bug as it was found: " " on every nullable drop-down, create and edit."""
    app, client, targets = world
    for target in targets:
        _blank_is_null(app, client, target, " ", kind)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_blank_is_stored_as_nothing(world, data):
    app, client, targets = world
    target = data.draw(st.sampled_from(targets))
    _blank_is_null(app, client, target, data.draw(BLANKS), data.draw(st.sampled_from(["create", "edit"])))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(data=st.data())
def test_a_value_outside_the_choices_is_refused_and_changes_nothing(world, data):
    app, client, targets = world
    target = data.draw(st.sampled_from(targets))
    endpoint, model, name, record_id, _original = target
    form = bs.Form(client.get(f"/admin/{endpoint}/edit/?id={record_id}").get_data(as_text=True))
    offered = set(form.options[name]) | {"__None"}
    value = data.draw(st.one_of(
        st.sampled_from([f" {o} " for o in sorted(offered) if o.strip()] + ["<script>", "成交", "已报价 "]),
        # a NUL is refused before any form (web/nul_guard.py, 400)
        st.text(min_size=1, max_size=12)).filter(lambda v: v.strip() and v not in offered and "\x00" not in v))
    kind = data.draw(st.sampled_from(["create", "edit"]))
    response, _stored, unchanged = _post(app, client, target, value, kind)
    _refused_in_chinese(response, unchanged, f"{kind} {endpoint}.{name}={value!r}")
