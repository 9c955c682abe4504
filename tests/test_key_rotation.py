"""Key rotation (`run.py rotate-key`): every sealed value and digest re-encrypted under the new key, killed
midway (SIGKILL) and resumed, with every value readable throughout and search by ID number and mobile
working before, during and after."""
import base64
import json
import os
import signal
import subprocess
import sys

import pytest

import keyrotation
import models
from dedup import merge
from models import AuditLog, Customer, ImportBatch, ImportChange, User, sealed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OLD = b"k" * 32  # the tests' FIELD_KEY (tests/conftest.py)
NEW = b"n" * 32
COUNT = 24


def b64(key):
    return base64.b64encode(key).decode()


@pytest.fixture
def keys(app):
    """The test process's sealing keys back to the tests' FIELD_KEY afterwards (models.sealed is global)."""
    yield
    sealed.configure(OLD)


def id_number(i):
    return f"11010119900101{i:04d}"


def bank(i):
    return f"62220212345{i:08d}"


def stored(table, column, record_id):
    return models.db.execute_sql(f'SELECT "{column}" FROM "{table}" WHERE id = {models.db.param}',
                                 (record_id,)).fetchone()[0]


@pytest.fixture
def sealed_data(app, keys, make_customer, users):
    """Customers, a TOTP secret, an import's undo record and a merge, all sealed under the old key; a few
    customers in the format from before key ids (no prefix), as an installation that upgrades has them."""
    sealed.configure(OLD)
    with app.app_context():
        people = [make_customer(owner="sales1", name=f"轮换客户{i:02d}", mobile=f"1380000{i:04d}",
                                id_number=id_number(i), bank_account=bank(i)) for i in range(COUNT)]
        for customer in people[:4]:  # legacy tokens: the same ciphertext without "KEYID:"
            for column in Customer.SEALED:
                token = stored("customer", column, customer.id)
                models.db.execute_sql(f'UPDATE customer SET "{column}" = {models.db.param} WHERE id = {models.db.param}',
                                      (token.split(":", 1)[1], customer.id))
        User.update(totp_secret="JBSWY3DPEHPK3PXP").where(User.username == "manager").execute()
        batch = ImportBatch.create(kind="customers", username="admin", filename="客户.csv", status="done")
        ImportChange.create(batch=batch, model="customer", record_id=people[5].id, action="updated",
                            before={"id_number": {"sealed": sealed.seal("110101198001010000")},
                                    "id_number_digest": sealed.digest("110101198001010000")}, after={"id_number": "***"})
        twin = make_customer(owner="sales1", name="轮换客户合并", id_number="110101197001019999", bank_account=None)
        record = merge.merge(people[6].id, [twin.id], picks={}, username="admin")
        models.db.close()
    return {"ids": [c.id for c in people], "merge": record.id, "twin": twin.code}


def expected_values(ids):
    return {cid: (id_number(i), bank(i)) for i, cid in enumerate(ids)}


def read_all(ids):
    """Every customer's sealed values as the models read them (unsealing each)."""
    rows = Customer.select(Customer.id, Customer.id_number, Customer.bank_account).where(Customer.id.in_(ids))
    return {c.id: (c.id_number, c.bank_account) for c in rows}


def env_for(app, **keys):
    return dict(os.environ, CRM_ENV="testing", DATABASE_URL=app.config["DATABASE_URL"],
                SECRET_KEY=app.config["SECRET_KEY"], PYTHONUNBUFFERED="1", **keys)


def invoke(app, *args):
    """run.py's command in this process, on the test's app (the sealing keys as configured here)."""
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    import run

    return CliRunner().invoke(run.cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def found_by_search(client, term):
    from tests.policy_support import ListPage

    response = client.get("/admin/customer/", query_string={"search": term})
    assert response.status_code == 200
    return set(ListPage(response.get_data(as_text=True)).rows)


def test_a_killed_rotation_leaves_every_value_readable_and_resumes_to_the_new_key_only(app, sealed_data, login):
    ids, expected = sealed_data["ids"], expected_values(sealed_data["ids"])
    env = env_for(app, FIELD_KEY=b64(NEW), FIELD_KEY_OLD=b64(OLD))
    process = subprocess.Popen([sys.executable, "run.py", "rotate-key", "--batch-size", "5", "--pause", "120"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stderr:  # "客户：已重新加密 5 / 24 行": the first batch is committed, then it pauses
            seen.append(line)
            if line.startswith("客户："):
                break
        else:
            raise AssertionError("the rotation ended before its first batch: " + "".join(seen))
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()

    admin = login("admin")
    # Midway, with both keys configured (as every process is during a rotation): everything reads.
    sealed.configure(NEW, [OLD])
    with app.app_context():
        assert read_all(ids) == expected
        tokens = [stored("customer", "id_number", cid) for cid in ids]
        new_id = sealed.current_key_id()
        assert 0 < sum(t.startswith(new_id + ":") for t in tokens) < len(ids), "killed midway"
        state = keyrotation.progress()
        assert state and not state["finished_at"] and state["targets"]["customer"]["rows"] == 5
        rotated = next(cid for cid, t in zip(ids, tokens) if t.startswith(new_id + ":"))
        waiting = next(cid for cid, t in zip(ids, tokens) if not t.startswith(new_id + ":"))
        models.db.close()
    for cid in (rotated, waiting):  # search by ID number finds values under either key
        assert found_by_search(admin, expected[cid][0]) == {cid}
    edited = ids[-1]  # an edit while the rotation waits: written under the new key, kept by the resume
    with app.app_context():
        customer = Customer.get_by_id(edited)
        customer.id_number = "110101200001010000"
        customer.save()
        models.db.close()
    expected[edited] = ("110101200001010000", expected[edited][1])

    done = invoke(app, "rotate-key", "--batch-size", "5")  # resumed in this process, with both keys
    assert done.exit_code == 0, done.output
    assert "继续上次未完成的密钥轮换" in done.output and "密钥轮换完成" in done.output

    # Afterwards the new key alone opens everything: FIELD_KEY_OLD can go.
    sealed.configure(NEW)
    with app.app_context():
        assert read_all(ids) == expected
        assert keyrotation.remaining() == {"customer": 0, "user": 0, "importchange": 0, "mergerecord": 0}
        assert keyrotation.progress()["finished_at"]
        assert User.get(User.username == "manager").totp_secret == "JBSWY3DPEHPK3PXP"
        change = ImportChange.get()
        assert sealed.unseal(change.before["id_number"]["sealed"]) == "110101198001010000"
        merge.undo(sealed_data["merge"], username="admin")  # the merge record's sealed values open too
        assert Customer.get(Customer.code == sealed_data["twin"]).id_number == "110101197001019999"
        events = [json.loads(a.changes)["event"] for a in AuditLog.select().where(AuditLog.action == "rotate_key")
                  .order_by(AuditLog.id)]
        assert events == ["start", "resume", "done"]
        for entry in AuditLog.select().where(AuditLog.action == "rotate_key"):
            assert not any(value in (entry.changes or "") for value in expected[ids[0]])
        models.db.close()
    for cid in (rotated, waiting, edited):
        assert found_by_search(admin, expected[cid][0]) == {cid}
    assert found_by_search(admin, "13800000007") == {ids[7]}  # mobile search is untouched

    status = invoke(app, "rotate-key", "--status")
    assert status.exit_code == 0 and "已完成" in status.output and "客户：0 行" in status.output


def test_an_edit_made_after_a_batch_was_read_is_not_overwritten(app, sealed_data):
    sealed.configure(NEW, [OLD])
    target = keyrotation.TARGETS[0]
    with app.app_context():
        rows = target.batch(0, 3)
        customer = Customer.get_by_id(rows[0][0])
        customer.id_number = "110101200001011111"
        customer.save()
        assert target.rewrite(rows) == 2  # the edited row is left as the edit wrote it
        assert Customer.get_by_id(rows[0][0]).id_number == "110101200001011111"
        assert Customer.get_by_id(rows[1][0]).id_number == id_number(1)


def test_a_value_under_a_key_that_is_not_configured_stops_with_a_chinese_message(app, sealed_data):
    sealed.configure(NEW)  # FIELD_KEY_OLD forgotten
    result = invoke(app, "rotate-key")
    assert result.exit_code == 1
    assert "未配置的密钥" in result.output and "FIELD_KEY_OLD" in result.output
    sealed.configure(NEW, [OLD])
    with app.app_context():
        assert read_all(sealed_data["ids"]) == expected_values(sealed_data["ids"])  # nothing lost


def test_sealed_values_name_their_key_and_older_values_still_open(keys):
    sealed.configure(OLD)
    old_token = sealed.seal("110101199001011234")
    legacy = old_token.split(":", 1)[1]
    sealed.configure(NEW, [OLD])
    assert sealed.rotating()
    assert sealed.unseal(old_token) == sealed.unseal(legacy) == "110101199001011234"
    new_token = sealed.seal("x")
    assert sealed.token_key_id(new_token) == sealed.key_id(NEW) != sealed.key_id(OLD)
    assert len(sealed.digests("110101199001011234")) == 2
    sealed.configure(NEW)
    assert not sealed.rotating() and sealed.digests("1") == [sealed.digest("1")]
    with pytest.raises(sealed.UnknownKey):
        sealed.unseal(old_token)
    with pytest.raises(sealed.UnknownKey):
        sealed.unseal(legacy)


def test_an_import_during_a_rotation_sees_an_unchanged_id_number_as_unchanged(app, keys, tmp_path, make_customer):
    import intake

    sealed.configure(OLD)
    with app.app_context():
        customer = make_customer(owner="sales1", name="导入轮换客户", id_number=id_number(1))
        path = tmp_path / "客户.csv"
        path.write_text(f"客户编号,客户名称,身份证号\n{customer.code},导入轮换客户,{id_number(1)}\n", encoding="utf-8")
        sealed.configure(NEW, [OLD])  # the digest stored is the old key's
        report = intake.import_file(str(path), "customers")
        assert report.written and report.counts()["unchanged"] == 1, report.counts()


def test_the_duplicate_check_finds_the_same_id_number_under_either_key(app, keys, make_customer):
    import dedup

    sealed.configure(OLD)
    with app.app_context():
        customer = make_customer(owner="sales1", name="甲公司", id_number=id_number(2))
        sealed.configure(NEW, [OLD])  # the stored digest is the old key's
        [match] = dedup.probable_duplicates({"name": "完全不同的名字", "id_number": id_number(2)})
        assert match.id == customer.id and "身份证" in match.reason
