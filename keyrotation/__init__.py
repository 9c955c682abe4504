"""Key rotation of the sealed values (`run.py rotate-key`), never imports Flask.

FIELD_KEY is the new key (it seals and digests everything written from the moment every process runs
with it) and FIELD_KEY_OLD the previous one (it only opens values; models/sealed.py).  `rotate()` then
re-seals, in batches of their own transactions, every stored value that is not under the current key,
and recomputes its search digest:

  customer       id_number, bank_account and their digests
  user           totp_secret (two-step login)
  importchange   the sealed earlier values an import keeps for its undo
  mergerecord    the sealed values a merge keeps for its undo

Progress (per target: the last id done, rows rewritten) is kept in the `setting` table under
``key_rotation:<key id>``, written in the same transaction as each batch, so a rotation killed at any
point resumes where it stopped, with nothing done twice and nothing lost.  Every row is rewritten
compare-and-set (only if it still holds what the batch read), so an edit the app makes meanwhile, sealed
under the new key already, is never overwritten.  A last check counts what is still not under the new
key (a process that was not yet restarted with the new key may have written some) and goes round again;
the rotation is done when nothing is left, and audited at its start, resumption and end.
"""
import datetime
import json
import time

from models import AuditLog, Setting, db, sealed  # noqa: F401 (sealed: for run.py)

from .targets import TARGETS, RotationError

SETTING_PREFIX = "key_rotation:"
DEFAULT_BATCH = 500
MAX_PASSES = 5


def _setting_key(kid):
    return SETTING_PREFIX + kid


def progress(kid=None):
    """The recorded progress of the rotation to key `kid` (default: the current key), or None."""
    row = Setting.get_or_none(Setting.key == _setting_key(kid or sealed.current_key_id()))
    return json.loads(row.value) if row else None


def _save(state):
    now = datetime.datetime.now()
    value = json.dumps(state, ensure_ascii=False)
    key = _setting_key(state["key"])
    Setting.insert(key=key, value=value, updated_at=now).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: value, Setting.updated_at: now}).execute()


def remaining():
    """{target name: rows not yet under the current key} (counted in the database where it can be)."""
    return {target.name: target.pending() for target in TARGETS}


def _audit(username, event, state, **extra):
    changes = {"event": event, "key": state["key"], **extra}
    AuditLog.create(username=username, action="rotate_key", model="sealed", record_id=state["key"],
                    changes=json.dumps(changes, ensure_ascii=False),
                    rows=sum(t["rows"] for t in state["targets"].values()))


def rotate(batch_size=DEFAULT_BATCH, pause=0.0, username="cli", echo=print, now=None):
    """Re-seal every sealed value under the current key (see the module's text); returns the state.

    `pause` seconds between batches lighten the load on a busy database.  Raises RotationError (a
    Chinese message) when a value is under a key that is not configured."""
    kid = sealed.current_key_id()
    state = progress(kid)
    fresh = state is None or state.get("finished_at")
    if fresh:
        state = {"key": kid, "started_at": str(now or datetime.datetime.now()), "finished_at": None, "pass": 1,
                 "targets": {t.name: {"last_id": 0, "rows": 0, "done": False} for t in TARGETS}}
        with db.atomic():
            _save(state)
            _audit(username, "start", state, old_keys=len(sealed._key("open")) - 1)
        echo(f"开始密钥轮换：新密钥 {kid}")
    else:
        for target in TARGETS:  # a target added by an upgrade since the rotation started
            state["targets"].setdefault(target.name, {"last_id": 0, "rows": 0, "done": False})
        with db.atomic():
            _audit(username, "resume", state)
        echo(f"继续上次未完成的密钥轮换：新密钥 {kid}，已重新加密 {sum(t['rows'] for t in state['targets'].values()):,} 行")
    while True:
        for target in TARGETS:
            _run_target(target, state, batch_size, pause, echo)
        left = {name: n for name, n in remaining().items() if n}
        if not left:
            break
        if state["pass"] >= MAX_PASSES:
            raise RotationError("仍有值未用新密钥加密（" + "，".join(f"{TARGETS_BY_NAME[n].label} {c:,} 行"
                                                              for n, c in left.items())
                                + "）：请确认所有进程（网页、worker、命令行）都已使用新的 FIELD_KEY 后再运行")
        state["pass"] += 1
        for name in left:  # written meanwhile by a process still on the old key: go round again
            state["targets"][name].update(last_id=0, done=False)
        with db.atomic():
            _save(state)
        echo(f"第 {state['pass']} 遍：仍有 " + "，".join(f"{TARGETS_BY_NAME[n].label} {c:,} 行" for n, c in left.items()))
    state["finished_at"] = str(datetime.datetime.now())
    with db.atomic():
        _save(state)
        _audit(username, "done", state)
    echo(f"密钥轮换完成：共重新加密 {sum(t['rows'] for t in state['targets'].values()):,} 行。"
         "现在可以从所有进程的配置中删除 FIELD_KEY_OLD 并重启")
    return state


def _run_target(target, state, batch_size, pause, echo):
    mine = state["targets"][target.name]
    if mine["done"]:
        return
    total = target.pending()
    done_here = 0
    while True:
        rows = target.batch(mine["last_id"], batch_size)
        if not rows:
            break
        with db.atomic():
            changed = target.rewrite(rows)
            mine["last_id"] = rows[-1][0]
            mine["rows"] += changed
            _save(state)
        done_here += changed
        echo(f"{target.label}：已重新加密 {done_here:,} / {total:,} 行（至 id {mine['last_id']}）", )
        if pause:
            time.sleep(pause)
    mine["done"] = True
    with db.atomic():
        _save(state)


TARGETS_BY_NAME = {t.name: t for t in TARGETS}

__all__ = ["DEFAULT_BATCH", "RotationError", "TARGETS", "progress", "remaining", "rotate"]
