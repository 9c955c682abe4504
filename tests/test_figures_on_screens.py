"""Numbers on screens read with thousands separators and money with ¥ (numberformat, one formatter); exports keep
the plain numbers a spreadsheet sums.  In lists, money and counts are marked `num` (header and cells), which the
admin's stylesheet aligns right so the digits of a column line up; the computed alignment in Chromium is checked
by tests/browser/test_values_ui.py."""
import datetime
import decimal

import numberformat
from models import CustomerValue
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


def _classes(doc, column):
    header = doc.select_one(f"table.model-list th.col-{column}")
    cells = doc.select(f"table.model-list td.col-{column}")
    assert header is not None and cells, f"no column {column}"
    return set(header["class"]), [set(td["class"]) for td in cells]


# screen -> (figure columns, columns that are not figures)
COLUMNS = {
    "customer": (["annual_revenue"], ["code", "name", "customer_type", "mobile", "status", "updated_at"]),
    "order": (["amount", "quantity"], ["order_no", "customer", "ordered_at", "product"]),
    "customervalue": (["annual_spend", "orders_12m", "ltv"], ["code", "name", "tier", "last_order_at"]),
    "auditlog": (["rows"], ["at", "username", "action", "record_id"]),
}


def test_money_and_count_columns_are_marked_num_and_aligned_right(app, login, make_customer, make_order):
    customer = make_customer(owner="sales1", annual_revenue="1234567.50", employees=42)
    make_order(customer, amount="98765.43", quantity=3, ordered_at=datetime.datetime(2025, 5, 20, 14, 30))
    # The value table's row as a refresh writes it (the model fit itself is tests/test_valuation.py's)
    CustomerValue.create(customer=customer, annual_spend="98765.43", orders_12m=1, ltv="123456.78", tier="高价值客户",
                         last_order_at=datetime.datetime(2025, 5, 20, 14, 30), as_of=datetime.date(2025, 6, 30),
                         refreshed_at=datetime.datetime(2025, 6, 30, 3, 0))
    client = login("admin")
    pages = {screen: ps.soup(client.get(f"/admin/{screen}/").get_data(as_text=True)) for screen in COLUMNS}
    for screen, (figures, text) in COLUMNS.items():
        for column in figures:
            header, cells = _classes(pages[screen], column)
            assert "num" in header, f"{screen}.{column} header: {header}"
            assert all("num" in c for c in cells), f"{screen}.{column} cells: {cells}"
        for column in text:
            header, cells = _classes(pages[screen], column)
            assert "num" not in header and not any("num" in c for c in cells), f"{screen}.{column} marked num"

    assert ps.text_of(pages["order"].select_one("table.model-list td.col-amount.num")) == "¥98,765.43"
    doc = pages["customer"]
    assert ps.text_of(doc.select_one("table.model-list td.col-annual_revenue.num")) == "¥1,234,567.50"
    details = ps.soup(client.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True))
    related = details.find("h4", id="related-order").find_next_sibling("table")  # the customer's orders
    marked = [ps.text_of(td) for td in related.select("td.num")]
    assert marked == ["¥98,765.43", "3"] and len(related.select("th.num")) == 2, marked
    link = doc.select_one('link[rel=stylesheet][href$="/static/admin.css"]')
    assert link is not None, "the list does not load the admin's stylesheet"
    css = client.get(link["href"]).get_data(as_text=True)
    assert "td.num" in css and "text-align: right" in css
