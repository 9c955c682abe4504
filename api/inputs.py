"""Reading what the caller sent: the JSON body, query parameters, path parameters.

Malformed input is 400 (not JSON, not an object, a parameter that cannot be parsed); values that parse but
break a field's rule are 422 with per-field errors (the views' job, through the platform's validation).
Text that no column can store (a NUL, which PostgreSQL refuses; a lone surrogate, which is not UTF-8) is
refused here for every endpoint, as web.nul_guard refuses it in forms and query strings.
"""
from flask import request

from .errors import ApiError

LONGEST_PARAMETER = 200  # characters: a filter value or a code longer than any column holds finds nothing


def storable_text(value):
    """Whether a string can be stored by both databases."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk(value, path="body"):
    if isinstance(value, str):
        if not storable_text(value):
            raise ApiError(400, "bad_text", f"{path} 含有无法保存的字符（NUL 或不成对的代理字符）")
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(key, path)
            _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]")


def json_object():
    """The request's JSON body, which must be an object; 400 otherwise."""
    if not request.is_json:
        raise ApiError(400, "not_json", "请求内容应为 JSON 对象（Content-Type: application/json）")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "请求内容不是有效的 JSON 对象")
    _walk(data)
    return data


def path_text(value, name):
    """A path parameter as text; one that cannot be stored cannot be found either: 404."""
    if not storable_text(value) or len(value) > LONGEST_PARAMETER:
        raise ApiError(404)
    return value


def query_text(name):
    """A query parameter's text, None when absent or empty."""
    value = request.args.get(name)
    if value is None or value.strip() == "":
        return None
    if not storable_text(value) or len(value) > LONGEST_PARAMETER:
        raise ApiError(400, "bad_parameter", f"参数 {name} 无效", errors=[{"field": name, "message": "参数值无效"}])
    return value.strip()


def query_int(name, default, least, most):
    value = request.args.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        number = None
    if number is None or not least <= number <= most:
        raise ApiError(400, "bad_parameter", f"参数 {name} 应为 {least} 到 {most} 之间的整数",
                       errors=[{"field": name, "message": f"应为 {least} 到 {most} 之间的整数"}])
    return number
