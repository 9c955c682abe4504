"""The OpenAPI 3.1 description, generated from the views' declarations by spectree (pydantic v2 models:
their JSON Schema is draft 2020-12, which is what OpenAPI 3.1 uses), served at /api/v1/openapi.json,
and a browsable page at /api/v1/docs (Swagger UI, vendored in web/static/swagger-ui: no CDN).

A view declares itself with `operation(...)`:

    @bp.get("/customers/<code>")
    @operation(summary="按客户编号查询客户", tags=["客户"], responses={200: CustomerOut})
    def get_customer(code): ...

Every operation also declares the answers the framework itself may give, each with ErrorBody:
400 (malformed request), 401 (token), 403 (permission / read-only token), 404, 422 (per-field errors),
429 (rate limit) - so a schema-driven fuzzer can check every response against the description.
spectree's own request validation is off (skip_validation): fields are checked by the platform's
standardisation and validation (intake's field specs, models.validation), which give Chinese
per-field messages; the declared schemas say what those accept.
"""
from flask import current_app, render_template, url_for
from pydantic import BaseModel
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecuritySchemeData
from spectree.plugins.flask_plugin import FlaskPlugin

from .errors import ErrorBody

TITLE = "客户资料管理与分析平台 API"
DESCRIPTION = (
    "对接 ERP、CRM 等系统的 REST API。每个请求在请求头中携带访问令牌：`Authorization: Bearer <令牌>`"
    "（在 系统管理 → API令牌 中创建，或 `run.py api-token 用户名`）。令牌代表其所属用户：角色、数据范围和字段规则"
    "与该用户在管理后台中完全相同；隐藏字段不出现，脱敏字段以脱敏形式出现。错误统一为 JSON："
    "`{\"error\": {\"code\": ..., \"message\": ..., \"errors\": [...]}}`。集成指南见 docs/api.md。"
)
ERRORS = {
    400: "请求格式有误（不是 JSON、参数无法解析、游标无效）",
    401: "缺少令牌、令牌无效、已撤销、已过期，或令牌所属账号已停用或被锁定",
    403: "角色没有此操作的权限，或只读令牌试图修改数据",
    404: "资源不存在或不在您的数据范围内",
    422: "字段校验失败：errors 逐字段说明原因",
    429: "超过每个令牌每分钟的请求上限，或来自同一地址（或同一令牌前缀）的令牌验证失败次数过多；Retry-After 头给出需等待的秒数",
}


def _query_parameters(schema, model):
    """A query parameter is a string in the URL or absent: never null.  pydantic writes an optional field
    (`str | None = None`) as anyOf [string, null] with default null, which Swagger UI shows as
    `string | (string | null)` and which invites a fuzzer to send a null that no URL can carry.  The description
    says the value's own type; leaving the parameter out is how it is not given."""
    for field in schema.get("properties", {}).values():
        choices = field.get("anyOf")
        if choices and {"type": "null"} in choices:
            rest = [choice for choice in choices if choice != {"type": "null"}]
            del field["anyOf"]
            if len(rest) == 1:
                field.update(rest[0])
            else:
                field["anyOf"] = rest
        if "default" in field and field["default"] is None:
            del field["default"]


class Query(BaseModel):
    """Base of the query-parameter models: optional parameters described without null (_query_parameters)."""

    model_config = {"json_schema_extra": _query_parameters}


class BlueprintPlugin(FlaskPlugin):
    """spectree's Flask plugin on our blueprint, without its own routes: the description and the docs page
    are the blueprint's views below (spectree's pages load Swagger UI from a CDN)."""

    def register_route(self, app):
        app.record(lambda state: setattr(self, "blueprint_state", state))


spec = SpecTree(
    backend=BlueprintPlugin,
    title=TITLE,
    description=DESCRIPTION,
    version="1.0.0",
    path="__spectree__",  # never served: find_routes skips routes under it, and there are none
    mode="strict",  # only the views declared with operation()
    annotations=False,
    page_templates={},
    # Components named by the model's class name (spectree adds a hash of the module by default): a new
    # endpoint's models need names of their own (OrderOut, not Out).
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
    validation_error_status=422,
    validation_error_model=ErrorBody,
    security_schemes=[SecurityScheme(name="bearerToken", data=SecuritySchemeData(type="http", scheme="bearer",
                                                                               description="API令牌（crm_ 开头）"))],
    security={"bearerToken": []},
)


def operation(summary, tags, responses, query=None, json=None, description=None, path=None):
    """Declare a view for the OpenAPI description: its success answers {status: model}, its query and JSON
    body models; the framework's error answers are added.  `path`: descriptions of the path's parameters."""
    codes = {f"HTTP_{status}": model for status, model in responses.items()}
    for status, meaning in ERRORS.items():
        codes.setdefault(f"HTTP_{status}", (ErrorBody, meaning))

    def decorate(view):
        if description:
            view.__doc__ = f"{summary}\n\n{description}"
        else:
            view.__doc__ = summary
        return spec.validate(query=query, json=json, resp=Response(**codes), tags=tags, skip_validation=True,
                             path_parameter_descriptions=path)(view)

    return decorate


def register(bp):
    spec.register(bp)

    @bp.get("/openapi.json")
    def openapi_json():
        document = spec.spec
        return current_app.json.response(document)

    @bp.get("/docs")
    def docs():
        return render_template("api/docs.html", spec_url=url_for("api.openapi_json"), title=TITLE)
