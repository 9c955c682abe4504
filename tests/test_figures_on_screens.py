"""Numbers on screens read with thousands separators and money with ¥ (numberformat, one formatter); exports keep
the plain numbers a spreadsheet sums."""
import datetime
import decimal

import numberformat
from tests import policy_support as ps

D = decimal.Decimal


def test_the_formatter():
    assert numberformat.count(1234567) == "1,234,567" and numberformat.count(12) == "12"
    assert numberformat.money(D("1250000.5")) == "¥1,250,000.50" and numberformat.money(0) == "¥0.00"
    assert numberformat.money(-1234.4, decimals=0) == "-¥1,234"
    assert numberformat.money(D("0.105")) == "¥0.10"  # a Decimal rounds as stored (half even), not through a float
    assert numberformat.amount(D("98765432.17")) == "98,765,432.17"
    assert numberformat.count(None) == numberformat.money(None) == ""
    assert numberformat.count("—") == "—" and numberformat.count(True) == "True"


def test_lists_and_the_details_page_show_amounts_and_counts_readably(login, make_customer, make_order):
    customer = make_customer(owner="sales1", name="千分位客户", annual_revenue=D("98765432.17"), employees=1500)
    order = make_order(customer, amount="1234567.50", quantity=1200, order_no="SO-FMT-1",
                       ordered_at=datetime.datetime(2026, 5, 1, 9, 30))
    manager = login("manager")

    orders = ps.ListPage(manager.get("/admin/order/").get_data(as_text=True))
    assert (orders.rows[order.id]["amount"], orders.rows[order.id]["quantity"]) == ("¥1,234,567.50", "1,200")
    customers = ps.ListPage(manager.get("/admin/customer/").get_data(as_text=True))
    assert customers.rows[customer.id]["annual_revenue"] == "¥98,765,432.17"

    html = manager.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    details = ps.details_table(html)
    assert (details["年营收"], details["员工人数"]) == ("¥98,765,432.17", "1,500")
    labels, rows = ps.related_section(html, "order")  # the order amounts under the customer (issue 14 part 3)
    assert rows[0][labels.index("金额")] == "¥1,234,567.50" and rows[0][labels.index("数量")] == "1,200"
    assert "1234567.50" not in html
    order_details = ps.details_table(manager.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True))
    assert order_details["金额"] == "¥1,234,567.50"

    header, rows = ps.csv_table(manager.get("/admin/order/export/csv/"))  # exports: plain numbers
    row = next(r for r in rows if "SO-FMT-1" in r)
    assert (row[header.index("金额")], row[header.index("数量")]) == ("1234567.50", "1200")
    edit = ps.form_values(manager.get(f"/admin/order/edit/?id={order.id}").get_data(as_text=True))
    assert edit["amount"] == "1234567.50"  # a form holds the number to edit, not its display
