"""The REST API for integrations, under /api/v1/ (a web surface beside admin/ and web/; docs/api.md).

How to add an endpoint
----------------------
1. Write a module in this package (e.g. api/orders.py) and import it at the bottom of this file.
2. Routes go on the blueprint `bp` (url_prefix /api/v1):

       from pydantic import BaseModel, ConfigDict, Field
       from . import bp, operation, caller, ApiError, invalid, columns, trail, inputs, paging

       class OrderOut(BaseModel):
           number: str = Field(description="订单号")

       @bp.get("/customers/<code>/orders")
       @operation(summary="客户的订单", tags=["订单"], responses={200: OrderPage}, query=OrderQuery,
                  path={"code": "客户编号"})
       def customer_orders(code):
           who = caller()                       # Caller: .user, .grant, .token, .owners, .can(key, action)
           if not who.can("order", "view"):
               raise ApiError(403)
           ...

3. The schema: `operation(summary, tags, responses={status: pydantic model}, query=Model, json=Model)`
   declares the view for /api/v1/openapi.json (OpenAPI 3.1 by spectree from pydantic v2 models; Chinese
   `description`s).  The error answers 400/401/403/404/422/429 (ErrorBody) are added to every operation.
   A query model derives from `openapi.Query` (as paging.PageQuery), so its optional parameters are described
   as the type a URL carries, not as "or null".
   Declare every success status the view returns, with `model_config = ConfigDict(extra="forbid")` on
   outputs and inputs, and optional (`X | None = None`) for every column a column rule may hide: the fuzz
   test (tests/test_api_fuzz.py) checks every response of every declared operation against the schema.
   Request bodies are NOT validated by the models (skip_validation): read them with inputs.json_object()
   and check fields with the platform's own rules (intake.record.clean_record: the importer's field specs;
   models.validation), so messages are the same Chinese ones as forms and imports.
4. Who is calling: `caller()` (api.tokens).  The token was checked before the view (401 / 429 / 403 for a
   read-only token on a write).  Ask the access policy for everything, never a role name:
   - permission: `who.can("order", "view")`, else `raise ApiError(403)`;
   - row scope: `access.scope_query(Model, query, who.user, who.grant)`; out of scope is 404, as missing;
   - columns: `columns.project(who.grant, key, values)` (hidden absent, masked masked) for output and
     `columns.refuse_unwritable(who.grant, key, payload)` for input (per-field errors).
5. Errors: `raise ApiError(status, code=None, message=None, errors=None, headers=None)` or
   `raise invalid([{"field": ..., "value": ..., "message": ..., "index": ...}])` (422).  Every error is
   `{"error": {"code", "message", "errors"?}}`; unknown URLs, wrong methods and server errors under /api/
   answer the same way (web.errors hands them to api.errors).
6. Writes: in one `db.atomic()`, then `trail.record(action, model, record_id, changes)`, which audits
   with the token's name.  Pagination: `paging.page(query, Model.id, paging.decode(cursor), limit)`.
"""
from flask import Blueprint

from . import columns, inputs, paging, trail
from .errors import ApiError, ErrorBody, FieldError, invalid
from .openapi import operation, spec
from .tokens import Caller, authenticate, caller

PREFIX = "/api/v1"
bp = Blueprint("api", __name__, url_prefix=PREFIX, template_folder="templates")
bp.before_request(authenticate)


def init_app(app):
    """Register the blueprint; errors under /api/ answer as JSON; the login's session rules do not apply."""
    import auth
    from web import errors as web_errors

    from . import errors

    if "api" not in app.blueprints:
        app.register_blueprint(bp)
    app.register_error_handler(ApiError, errors.from_api_error)
    web_errors.answer_as("/api/", errors.any_error)
    auth.SESSIONLESS_PREFIXES.add("/api/")


# The endpoints: one module each, imported here so their routes are on `bp` before it is registered.
from . import customers  # noqa: E402
from . import activity, tags, values  # noqa: E402  (orders and follow-ups, customer tags, the value row)

from .openapi import register as _register_description  # noqa: E402

_register_description(bp)

__all__ = ["bp", "init_app", "operation", "spec", "caller", "Caller", "ApiError", "ErrorBody", "FieldError",
           "invalid", "columns", "inputs", "paging", "trail", "PREFIX"]
