"""个人数据请求 on the customer's details page: 导出个人数据 (JSON / XLSX) and 匿名化, both POSTs with a CSRF token.

The work is privacy's (export, erase: permission, row scope, column rules, audit); this screen only asks it
and answers: a download, or a message on the details page.  Policy key `personaldata`: export and delete
(access/defaults.py).  The view has no menu entry: it is reached from the details page only.
"""
from io import BytesIO

from flask import flash, redirect, request, send_file, url_for
from flask_admin import BaseView, expose
from flask_login import current_user

import privacy
from i18n import current_language

from .secured import TokenForm, current_grant

MIMETYPES = {"json": "application/json",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
TEXT = {
    "zh": {"title": "个人数据请求", "export_label": "导出该客户的全部数据", "export": "导出个人数据",
           "erase_label": "匿名化不能撤销；确认请输入客户编号", "erase": "匿名化",
           "anonymised": "该客户已于 {at} 匿名化：姓名、联系方式、证件号码和备注已清除，订单保留用于统计。",
           "erased": "客户 {code} 已匿名化：姓名、联系方式、证件和备注等已清除，订单保留。此操作不能撤销。",
           "expired": "页面已过期，请刷新页面后重试"},
    "en": {"title": "Personal data request", "export_label": "Export everything held about this customer",
           "export": "Export personal data", "erase_label": "Anonymising cannot be undone; to confirm, type the code",
           "erase": "Anonymise",
           "anonymised": "Anonymised on {at}: names, contacts, ID numbers and notes were erased; the orders are kept "
                         "for the figures.",
           "erased": "Customer {code} anonymised: names, contacts, ID numbers and notes erased, orders kept. This "
                     "cannot be undone.",
           "expired": "The form has expired; reload the page and try again."},
}


def _text():
    return TEXT[current_language()]


def tools(customer):
    """What the details page offers of personal-data requests for `customer`, or None."""
    if not current_user.is_authenticated:
        return None
    grant = current_grant()
    can_export, can_erase = privacy.may_export(grant), privacy.may_erase(grant)
    if not (can_export or can_erase):
        return None
    text = _text()
    anonymised = (text["anonymised"].format(at=f"{customer.anonymised_at:%Y-%m-%d %H:%M}")
                  if customer.anonymised_at else None)
    return {"export": can_export, "erase": can_erase and customer.anonymised_at is None, "anonymised": anonymised,
            "form": TokenForm(), "code": customer.code, "text": text}


class PersonalDataView(BaseView):
    def is_accessible(self):
        return current_user.is_authenticated and current_user.is_active

    def is_visible(self):
        return False

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("auth.login", next=request.full_path))

    def _back(self, customer_id):
        if customer_id and customer_id.isdigit():
            return redirect(url_for("customer.details_view", id=customer_id))
        return redirect(url_for("customer.index_view"))

    @expose("/")
    def index(self):
        """Requests start on a customer's details page: the list is where to pick one."""
        return redirect(url_for("customer.index_view"))

    @expose("/export/", methods=("POST",))
    def export_view(self):
        customer_id = request.form.get("customer_id", "")
        if not TokenForm(request.form).validate():
            flash(_text()["expired"], "error")
            return self._back(customer_id)
        fmt = request.form.get("format", "json")
        try:
            document = privacy.export(request.form.get("code", ""), current_user, fmt=fmt, ip=request.remote_addr)
        except privacy.PrivacyError as error:
            flash(str(error), "error")
            return self._back(customer_id)
        body = privacy.as_json(document) if fmt == "json" else privacy.as_xlsx(document)
        return send_file(BytesIO(body), mimetype=MIMETYPES[fmt], as_attachment=True,
                         download_name=f"{document['customer_code']}-个人数据.{fmt}")

    @expose("/erase/", methods=("POST",))
    def erase_view(self):
        customer_id = request.form.get("customer_id", "")
        if not TokenForm(request.form).validate():
            flash(_text()["expired"], "error")
            return self._back(customer_id)
        code = request.form.get("code", "")
        try:
            privacy.erase(code, current_user, confirm=request.form.get("confirm", ""), ip=request.remote_addr)
        except privacy.PrivacyError as error:
            flash(str(error), "error")
            return self._back(customer_id)
        flash(_text()["erased"].format(code=code.strip()), "success")
        return self._back(customer_id)
