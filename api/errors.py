"""Every error of the API is one JSON shape, with a machine code and a Chinese message:

    {"error": {"code": "validation_failed", "message": "提交的数据有误",
               "errors": [{"field": "mobile", "value": "123", "message": "手机号码格式不正确…"}]}}

`errors` lists each rejected field (and, for bulk calls, the item's `index`); it is absent when the whole
request is refused (401, 403, 404, 429...).  Raise ApiError from a view, or abort(); both end here.
"""
import datetime
import math
import secrets
from typing import Any

from flask import current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import HTTPException

from models import contention


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int | None = Field(None, description="批量请求中出错的条目序号（从 0 开始）；单条请求没有此项")
    field: str | None = Field(None, description="出错的字段名；整条记录的问题为 null")
    value: Any = Field(None, description="提交的值（敏感字段不回显）")
    message: str = Field(description="中文说明：哪里不对、应该怎么写")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="机器可读的错误代码，例如 token_missing、validation_failed、not_found")
    message: str = Field(description="中文错误说明")
    errors: list[FieldError] | None = Field(None, description="逐字段的错误（校验失败时）")
    reference: str | None = Field(None, description="服务器错误的参考编号，可告知系统管理员以查找日志")


class ErrorBody(BaseModel):
    """错误响应：所有错误都是这个形状。"""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


# status -> (code, message) for errors nobody described more closely
DEFAULTS = {
    400: ("bad_request", "请求有误，无法处理"),
    401: ("token_invalid", "访问令牌无效"),
    403: ("forbidden", "您的角色没有执行此操作的权限"),
    404: ("not_found", "资源不存在或不在您的数据范围内"),
    405: ("method_not_allowed", "此地址不支持该请求方法"),
    406: ("not_acceptable", "只能返回 JSON"),
    413: ("too_large", "请求内容过大"),
    415: ("unsupported_media_type", "请求内容应为 JSON（Content-Type: application/json）"),
    422: ("validation_failed", "提交的数据有误，请按字段说明修改后重试"),
    429: ("rate_limited", "请求过于频繁，请稍后再试"),
    500: ("internal_error", "服务器内部错误，已记录；请把参考编号告知系统管理员"),
    503: ("busy", f"{contention.BUSY_MESSAGE}：{contention.BUSY_DETAIL}"),
}


class ApiError(Exception):
    """An answer other than success: raise it anywhere in a view (or in the token check)."""

    def __init__(self, status, code=None, message=None, errors=None, headers=None):
        default_code, default_message = DEFAULTS.get(status, ("error", "请求无法处理"))
        super().__init__(message or default_message)
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        self.errors = errors
        self.headers = headers or {}


def invalid(errors, message=None):
    """422 with per-field errors: [{"field": ..., "message": ..., "value": ...}, ...]."""
    return ApiError(422, "validation_failed", message, errors=errors)


def _echo(value):
    """A submitted value as the answer may repeat it: JSON has no NaN or Infinity (Python's parser takes them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _echo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_echo(v) for v in value]
    return value


def response(status, code, message, errors=None, headers=None, reference=None):
    detail = {"code": code, "message": message}
    if errors:
        detail["errors"] = [{k: _echo(v) for k, v in e.items() if v is not None or k == "field"} for e in errors]
    if reference:
        detail["reference"] = reference
    answer = jsonify({"error": detail})
    answer.status_code = status
    answer.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        answer.headers[name] = value
    return answer


def from_api_error(error):
    return response(error.status, error.code, error.message, error.errors, error.headers)


def from_http_error(error):
    """Flask's own errors (no route: 404, wrong method: 405, NUL in a parameter: 400...) as JSON."""
    status = error.code or 500
    if status >= 500:
        return server_error(error)
    code, message = DEFAULTS.get(status, ("error", "请求无法处理"))
    headers = {}
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    return response(status, code, message, headers=headers)


def server_error(error):
    """A 500: the exception goes to the log with a reference; the answer shows only the reference."""
    if not isinstance(error, HTTPException) and contention.is_busy(error):
        code, message = DEFAULTS[503]
        return response(503, code, message, headers={"Retry-After": "5"})
    now = datetime.datetime.now()
    reference = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    current_app.logger.exception("500 %s: %s %s", reference, request.method, request.path)
    code, message = DEFAULTS[500]
    return response(500, code, message, reference=reference)


def any_error(error):
    """What web.errors hands over for a request under the API's prefix (HTTP errors and exceptions)."""
    if isinstance(error, ApiError):
        return from_api_error(error)
    if isinstance(error, HTTPException):
        return from_http_error(error)
    return server_error(error)
