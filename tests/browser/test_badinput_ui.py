"""Script injection in a real browser (issue 12 part 7): customers, follow-ups, orders, tags, tasks and audit
entries whose texts are script probes (as tests/test_badinput_injection.py plants them), then the pages that
draw them in Chromium, including those the browser builds from JSON (the dashboard's cards, tooltips and
tables): no probe runs (window.__xss stays unset), and the page logs no console error, so no injected handler
was even refused by the CSP.  Screenshots go to test-artifacts/."""
import datetime

from playwright.sync_api import expect

import dashboard
from demo.fixed import REFERENCE_NOW
from models import Tag
from tests import badinput_support as bs
from tests.browser.test_ui import log_in

PROBES = ("<img src=x onerror=window.__xss=1>", "<script>window.__xss=1</script>", '"><svg onload=window.__xss=1>',
          "'><b onmouseover=window.__xss=1>x</b>")


def _favicon(message):
    return (message.location.get("url") or "").endswith("/favicon.ico")


def test_probes_stay_text_on_every_screen_that_shows_them(app, page, live_server, password, shot):
    day = REFERENCE_NOW.date()
    app.config["DASHBOARD_TODAY"] = day
    with app.app_context():
        planted = [bs.plant(probe) for probe in PROBES]
        for probe in PROBES:  # rule-tag names feed the dashboard's bar chart
            Tag.create(name=probe[:40], category="行为", source="rule")
        dashboard.refresh(day, trigger="test", now=REFERENCE_NOW + datetime.timedelta(hours=1))
    errors = []
    page.on("console", lambda m: errors.append(f"{m.text} ({m.location.get('url')})")
            if m.type == "error" and not _favicon(m) else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))

    log_in(page, live_server, "manager", password)
    screens = [("dashboard", "/admin/"), ("customers", "/admin/customer/"),
               ("details", f"/admin/customer/details/?id={planted[0].id}"),
               ("edit", f"/admin/customer/edit/?id={planted[1].id}"), ("followups", "/admin/followup/"),
               ("orders", "/admin/order/"), ("tasks", "/admin/tasks/"), ("duplicates", "/admin/duplicates/"),
               ("quality", "/admin/quality/"), ("tags", "/admin/customertag/")]
    for name, url in screens:
        page.goto(live_server + url)
        page.wait_for_load_state("networkidle")
        page.mouse.move(300, 400)  # hover handlers, if any had been injected
        assert page.evaluate("window.__xss") is None, f"a probe ran on {url}"
        if name in ("dashboard", "customers", "tasks"):
            shot(name)
    expect(page.locator("body")).to_contain_text("<img src=x onerror=window.__xss=1>")  # shown as text
    assert not errors, errors
