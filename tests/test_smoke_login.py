def test_admin_requires_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/login" in response.location


def test_sales_sees_own_customers_only(login, make_customer):
    mine = make_customer(owner="sales1", name="我的客户甲")
    theirs = make_customer(owner="sales2", name="别人的客户乙")
    page = login("sales").get("/admin/customer/").get_data(as_text=True)
    assert mine.name in page
    assert theirs.name not in page
