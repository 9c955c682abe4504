import pytest

import models
from tests.conftest import PASSWORD


def test_login_lands_on_admin(client):
    response = client.submit("/login", {"username": "sales1", "password": PASSWORD})
    assert response.status_code == 302
    assert response.location.endswith("/admin/")
    assert client.get("/admin/").status_code == 200


def test_wrong_password_is_refused_in_chinese(client):
    response = client.submit("/login", {"username": "sales1", "password": "nope"})
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login", data={"username": "sales1", "password": PASSWORD})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_inactive_user_cannot_log_in(client, users):
    models.User.update(active=False).where(models.User.username == "sales2").execute()
    response = client.submit("/login", {"username": "sales2", "password": PASSWORD})
    assert "该账号已停用" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_passwords_are_hashed(users):
    stored = users["sales1"].password_hash
    assert PASSWORD not in stored
    assert stored.startswith(("scrypt:", "pbkdf2:"))


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "https://evil.example/"])
def test_next_parameter_cannot_leave_the_site(client, target):
    response = client.submit(f"/login?next={target}", {"username": "sales1", "password": PASSWORD},
                             form_url="/login")
    assert response.location.endswith("/admin/")


def test_next_parameter_returns_to_the_page_asked_for(client):
    response = client.submit("/login?next=/admin/customer/", {"username": "sales1", "password": PASSWORD},
                             form_url="/login")
    assert response.location.endswith("/admin/customer/")


def test_user_created_by_admin_must_change_password(login, app):
    admin = login("admin")
    role = models.Role.get(models.Role.name == "sales")
    response = admin.submit(
        "/admin/user/new/",
        {"username": "newrep", "display_name": "新销售", "role": role.id, "active": "y",
         "must_change_password": "y", "new_password": "initial-pass-1"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    user = models.User.get(models.User.username == "newrep")
    assert user.must_change_password and user.check_password("initial-pass-1")

    fresh = app.test_client()
    first = fresh.submit("/login", {"username": "newrep", "password": "initial-pass-1"})
    assert first.location.endswith("/password")
    # every other page leads back to the change form until the password is changed
    assert fresh.get("/admin/customer/").location.endswith("/password")

    mismatch = fresh.submit("/password", {"current": "initial-pass-1", "new": "brand-new-pass", "repeat": "other"})
    assert "两次输入的新密码不一致" in mismatch.get_data(as_text=True)
    assert models.User.get_by_id(user.id).check_password("initial-pass-1")

    done = fresh.submit("/password", {"current": "initial-pass-1", "new": "brand-new-pass", "repeat": "brand-new-pass"})
    assert done.status_code == 302
    assert fresh.get("/admin/customer/").status_code == 200
    assert models.User.get_by_id(user.id).check_password("brand-new-pass")


def test_admin_cannot_create_user_without_password(login):
    admin = login("admin")
    role = models.Role.get(models.Role.name == "sales")
    response = admin.submit("/admin/user/new/", {"username": "nopass", "display_name": "x", "role": role.id},
                            follow_redirects=True)
    assert "新用户必须设置初始密码" in response.get_data(as_text=True)
    assert not models.User.select().where(models.User.username == "nopass").exists()


def test_logout_ends_the_session(login):
    client = login("sales")
    client.get("/logout")
    assert client.get("/admin/").status_code == 302
