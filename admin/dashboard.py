"""首页 (/admin/): the dashboard of the viewer's row scope, with a compact links area.

The page carries every card's data for the chosen period as one JSON blob (dashboard.build: one SQL
statement per source, whatever the number of cards); the period selector asks /admin/dashboard-data for
all the cards of another period in one request.  The browser draws them with the vendored ECharts
(/static/vendor/echarts/echarts.min.js, no CDN).  Which cards, and which customers behind them, is the
access policy's answer (dashboard.policy, access.scope_query); there are no role checks here.

`DASHBOARD_TODAY` in the app's config (a date) fixes "today" for tests; otherwise it is the server's day.
"""
import datetime

from flask import current_app, flash, jsonify, redirect, request, url_for
from werkzeug.routing import BuildError
from flask_admin import AdminIndexView, expose
from flask_login import current_user

import dashboard
from i18n import current_language

from .secured import current_grant


def today():
    fixed = current_app.config.get("DASHBOARD_TODAY")
    return fixed or datetime.date.today()


def _links(board):
    """card key -> the address of the screen its title links to (a card is shown only to grants that may see
    what it summarises, and the screen asks the policy again)."""
    links = {}
    for card in board["cards"]:
        if card["link"]:
            try:
                links[card["key"]] = url_for(card["link"])
            except BuildError:  # the screen is not registered in this installation
                pass
    return links


class HomeView(AdminIndexView):
    """/admin/ itself requires login; every logged-in user gets the cards their grant allows."""

    def is_accessible(self):
        return current_user.is_authenticated and current_user.is_active

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("auth.login", next=request.full_path))

    def _build(self, period):
        return dashboard.build(current_user, current_grant(), today(), period, current_language())

    @expose("/")
    def index(self):
        period = request.args.get("period") or dashboard.DEFAULT
        try:
            board = self._build(period)
        except dashboard.UnknownPeriod as refused:
            flash(str(refused) if current_language() == "zh" else f"Unknown period “{refused.key}”", "error")
            board = self._build(dashboard.DEFAULT)
        return self.render("admin/home.html", grant=current_grant(), board=board, links=_links(board),
                           data_url=url_for(".data"), language=current_language())

    @expose("/dashboard-data")
    def data(self):
        """Every card of the period in one answer: {"period": ..., "cards": [...]}; 400 with "error" for an
        unknown period."""
        try:
            return jsonify(self._build(request.args.get("period") or dashboard.DEFAULT))
        except dashboard.UnknownPeriod as refused:
            message = str(refused) if current_language() == "zh" else f"Unknown period “{refused.key}”"
            return jsonify(error=message), 400
