"""Where sealed values are stored, as a registry of targets the rotation walks through.

A target reads batches of candidate rows by id with raw SQL (a Peewee select would unseal them), rewrites
each row's values under the current key compare-and-set, and counts in the database what is still not
under the current key.  A new table with sealed values adds one entry to TARGETS.
"""
import json

from models import Customer, ImportChange, MergeRecord, User, db, sealed


class RotationError(RuntimeError):
    """A rotation that cannot go on; the message says why (Chinese)."""


def _quote(name):
    return '"' + name + '"'


def _unseal(token, where):
    try:
        return sealed.unseal(token)
    except sealed.UnknownKey as error:
        raise RotationError(f"{where} 的值使用未配置的密钥加密（{sealed.token_key_id(token) or '旧格式'}）："
                            "请把加密它的旧密钥写入 FIELD_KEY_OLD 后再运行；已完成的部分已保存") from error


def _current_prefix():
    return sealed.current_key_id() + ":"


class ColumnsTarget:
    """Sealed text columns of a table, each with an optional digest column recomputed with it."""

    def __init__(self, name, label, model, columns, digests=()):
        self.name, self.label, self.model = name, label, model
        self.columns = tuple(columns)
        self.digests = {c: c + "_digest" for c in digests}

    @property
    def table(self):
        return _quote(self.model._meta.table_name)

    def _stale(self):
        """SQL: a sealed column holds a value not under the current key (its parameters after)."""
        parts = [f"({_quote(c)} IS NOT NULL AND {_quote(c)} NOT LIKE {db.param})" for c in self.columns]
        return "(" + " OR ".join(parts) + ")", [_current_prefix() + "%"] * len(self.columns)

    def pending(self):
        condition, params = self._stale()
        return db.execute_sql(f"SELECT COUNT(*) FROM {self.table} WHERE {condition}", params).fetchone()[0]

    def batch(self, last_id, size):
        condition, params = self._stale()
        columns = ", ".join(_quote(c) for c in self.columns)
        sql = (f"SELECT id, {columns} FROM {self.table} WHERE id > {db.param} AND {condition} "
               f"ORDER BY id LIMIT {int(size)}")
        return [tuple(row) for row in db.execute_sql(sql, [last_id, *params]).fetchall()]

    def rewrite(self, rows):
        changed = 0
        for row in rows:
            record_id, tokens = row[0], row[1:]
            values = {}
            for column, token in zip(self.columns, tokens):
                if token is None or sealed.is_current(token):
                    continue
                plain = _unseal(token, f"{self.label} id {record_id} 的 {column}")
                values[column] = sealed.seal(plain)
                if column in self.digests:
                    values[self.digests[column]] = sealed.digest(plain) if plain else None
            if not values:
                continue
            sets = ", ".join(f"{_quote(c)} = {db.param}" for c in values)
            same = " AND ".join(f"COALESCE({_quote(c)}, '') = {db.param}" for c in self.columns)
            cursor = db.execute_sql(f"UPDATE {self.table} SET {sets} WHERE id = {db.param} AND {same}",
                                    [*values.values(), record_id, *(t or "" for t in tokens)])
            changed += cursor.rowcount
        return changed


class JsonTarget:
    """Sealed values inside a JSON text column, found by the names they are kept under."""

    def __init__(self, name, label, model, column, keys, walk):
        self.name, self.label, self.model, self.column = name, label, model, column
        self.keys = tuple(keys)  # JSON keys whose string values are sealed: '"key": "<token>"'
        self.walk = walk  # walk(document, reseal) -> the document with each sealed value passed through reseal

    @property
    def table(self):
        return _quote(self.model._meta.table_name)

    def _candidates(self):
        column = _quote(self.column)
        return "(" + " OR ".join(f"{column} LIKE {db.param}" for _ in self.keys) + ")", \
            [f'%"{key}": "%' for key in self.keys]

    def pending(self):
        """Rows with a sealed value not under the current key: the current key's values are cut out of the
        text (REPLACE, on both databases) and what still looks like a sealed value is counted."""
        text = _quote(self.column)
        for _ in self.keys:
            text = f"REPLACE({text}, {db.param}, '')"
        cut = [f'"{key}": "{_current_prefix()}' for key in self.keys]
        stale = " OR ".join(f"{text} LIKE {db.param}" for _ in self.keys)
        sql = f"SELECT COUNT(*) FROM {self.table} WHERE {stale}"
        params = []
        for key in self.keys:
            params += cut + [f'%"{key}": "%']
        return db.execute_sql(sql, params).fetchone()[0]

    def batch(self, last_id, size):
        condition, params = self._candidates()
        sql = (f"SELECT id, {_quote(self.column)} FROM {self.table} WHERE id > {db.param} AND {condition} "
               f"ORDER BY id LIMIT {int(size)}")
        return [tuple(row) for row in db.execute_sql(sql, [last_id, *params]).fetchall()]

    def rewrite(self, rows):
        changed = 0
        for record_id, text in rows:
            touched = []

            def reseal(token, where=f"{self.label} id {record_id}"):
                if token is None or sealed.is_current(token):
                    return token
                touched.append(True)
                return sealed.seal(_unseal(token, where))

            document = self.walk(json.loads(text), reseal)
            if not touched:
                continue
            new = json.dumps(document, ensure_ascii=False, default=str)
            cursor = db.execute_sql(f"UPDATE {self.table} SET {_quote(self.column)} = {db.param} "
                                    f"WHERE id = {db.param} AND {_quote(self.column)} = {db.param}",
                                    [new, record_id, text])
            changed += cursor.rowcount
        return changed


def _import_before(document, reseal):
    """ImportChange.before: {"column": {"sealed": token}, ...} for the sealed columns (intake/kinds.py)."""
    for value in (document or {}).values():
        if isinstance(value, dict) and "sealed" in value:
            value["sealed"] = reseal(value["sealed"])
    return document


def _merge_data(document, reseal):
    """MergeRecord.data: the survivor's values before and the merged rows, sealed columns sealed (dedup/merge.py)."""
    for snapshot in [document.get("survivor_before") or {}, *(document.get("merged") or [])]:
        for name in Customer.SEALED:
            if snapshot.get(name) is not None:
                snapshot[name] = reseal(snapshot[name])
    return document


TARGETS = [
    ColumnsTarget("customer", "客户", Customer, Customer.SEALED, digests=Customer.SEALED),
    ColumnsTarget("user", "用户（两步验证密钥）", User, ("totp_secret",)),
    JsonTarget("importchange", "导入撤销记录", ImportChange, "before", ("sealed",), _import_before),
    JsonTarget("mergerecord", "合并撤销记录", MergeRecord, "data", Customer.SEALED, _merge_data),
]
