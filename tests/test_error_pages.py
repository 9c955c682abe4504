"""403, 404 and 500 pages: the platform's look, the user's language, a way back, status kept,
and never a traceback, exception text or file path on a 500 (web/errors.py).
"""
import logging

import pytest
from bs4 import BeautifulSoup

SECRET_MESSAGE = "boom: password=hunter2 in /srv/crm/secret_module.py"


def page_of(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def assert_error_page(response, status, title, home_text, lang="zh-CN"):
    assert response.status_code == status
    assert response.mimetype == "text/html"
    soup = page_of(response)
    assert soup.html["lang"] == lang
    assert soup.select_one("#error-page")["data-status"] == str(status)
    assert soup.h1.get_text(strip=True) == title
    home = soup.select_one("#error-home")
    assert home["href"] == "/admin/" and home.get_text(strip=True) == home_text
    # the platform's look: its Bootstrap, its name, the language switch
    assert soup.find("link", href=lambda h: h and "bootstrap.min.css" in h)
    assert soup.select_one(".navbar-brand").get_text(strip=True)
    assert soup.find("a", href="/lang/en") and soup.find("a", href="/lang/zh")
    return soup


def test_unknown_url_is_a_chinese_404_page_with_a_link_home(client):
    response = client.get("/no/such/page")
    soup = assert_error_page(response, 404, "页面不存在", "返回首页")
    assert "客户资料管理与分析平台" in soup.title.get_text()
    assert soup.select_one("#error-back") is None  # no page to go back to


def test_go_back_links_to_the_previous_page_of_this_site_only(login):
    client = login("sales")
    came_from = "http://localhost/admin/customer/?page=2"
    soup = page_of(client.get("/admin/no-such-screen/", headers={"Referer": came_from}))
    back = soup.select_one("#error-back")
    assert back["href"] == came_from and back.get_text(strip=True) == "返回上一页"

    for elsewhere in ("https://evil.example.com/admin/", "javascript:alert(1)"):
        soup = page_of(client.get("/admin/no-such-screen/", headers={"Referer": elsewhere}))
        assert soup.select_one("#error-back") is None, elsewhere


def test_sales_opening_a_screen_the_policy_forbids_gets_the_403_page(login):
    client = login("sales")
    came_from = "http://localhost/admin/"
    response = client.get("/admin/user/", headers={"Referer": came_from})
    soup = assert_error_page(response, 403, "无权访问", "返回首页")
    assert "没有打开此页面的权限" in soup.get_text()
    assert soup.select_one("#error-back")["href"] == came_from
    assert client.get("/admin/role/").status_code == 403


def test_a_record_out_of_scope_is_the_same_404_page_as_a_missing_one(login, make_customer):
    other = make_customer(owner="sales2", name="他人客户有限公司")
    client = login("sales")
    out_of_scope = client.get(f"/admin/customer/details/?id={other.id}")
    missing = client.get("/admin/customer/details/?id=999999")
    assert_error_page(out_of_scope, 404, "页面不存在", "返回首页")
    assert "他人客户有限公司" not in out_of_scope.get_data(as_text=True)
    # nothing tells the two apart but the id in the URL
    assert out_of_scope.get_data(as_text=True) == missing.get_data(as_text=True)


def test_english_session_gets_english_pages(login):
    client = login("sales")
    client.get("/lang/en")
    assert_error_page(client.get("/no/such/page"), 404, "Page not found", "Back to the home page", lang="en")
    soup = assert_error_page(client.get("/admin/user/", headers={"Referer": "http://localhost/admin/"}), 403,
                             "Access denied", "Back to the home page", lang="en")
    assert soup.select_one("#error-back").get_text(strip=True) == "Go back"
    assert "页面" not in soup.get_text() and "权限" not in soup.get_text()


def test_anonymous_english_visitor_and_default_language_setting(app):
    app.config["DEFAULT_LANGUAGE"] = "en"
    assert_error_page(app.test_client().get("/nothing-here"), 404, "Page not found", "Back to the home page",
                      lang="en")


@pytest.fixture
def failing_app(app):
    """The test app (TESTING=True) with a route that raises, and exceptions handled as in production."""

    @app.route("/explode")
    def explode():
        raise RuntimeError(SECRET_MESSAGE)

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


@pytest.mark.parametrize("lang, title", [("zh", "系统出错了"), ("en", "Something went wrong")])
def test_an_exception_is_a_500_page_without_traceback_logged_with_its_reference(failing_app, caplog, lang, title):
    client = failing_app.test_client()
    client.get(f"/lang/{lang}")
    with caplog.at_level(logging.ERROR, logger=failing_app.logger.name):
        response = client.get("/explode")

    soup = assert_error_page(response, 500, title, "Back to the home page" if lang == "en" else "返回首页",
                             lang="en" if lang == "en" else "zh-CN")
    body = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "hunter2", "boom", "secret_module", "/srv/", ".py", "/work/",
                 __file__, "File \""):
        assert leak not in body, leak
    assert soup.select_one("#error-back") is None
    reference = soup.select_one("#error-reference code").get_text(strip=True)
    assert reference

    # the operator's side: one log record with the reference, the request and the traceback
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 1
    logged = caplog.text
    assert reference in logged and "GET /explode" in logged
    assert "Traceback" in logged and SECRET_MESSAGE in logged



def test_other_http_errors_get_the_same_page_with_their_own_code(app, client):
    response = client.post("/login/../admin/")  # no such route for POST either: 404
    assert response.status_code == 404
    response = client.put("/login")  # the login page takes GET and POST only
    assert response.status_code == 405
    page = response.get_data(as_text=True)
    assert "操作不被允许" in page and "返回首页" in page and "Method Not Allowed" not in page
