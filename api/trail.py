"""The audit of API writes: every entry names the user and the token the write came through.

    trail.record("create", "customer", customer.id, {"name": [None, "北京示例"]})
    # AuditLog(username=<token's user>, action="create", model="customer", record_id=..., ip=...,
    #          changes={"name": [None, "北京示例"], "api_token": "ERP 同步"})
"""
import json

from flask import request

from models import AuditLog

from .tokens import caller

TOKEN_KEY = "api_token"  # the key of the token's name in an entry's changes (审计日志 shows it as API令牌)


def record(action, model, record_id=None, changes=None, rows=None):
    who = caller()
    entry = dict(changes or {})
    entry[TOKEN_KEY] = who.token.name
    return AuditLog.create(username=who.user.username, action=action, model=model,
                           record_id=None if record_id is None else str(record_id),
                           changes=json.dumps(entry, ensure_ascii=False, default=str), ip=request.remote_addr,
                           rows=rows)
