"""The records that keep a customer's old values so something can be undone or shown again, scrubbed on erase.

- ImportChange (models/imports.py): an import's undo record holds the values it replaced (`before`, sealed
  columns sealed) and wrote (`after`) for the customer, and its follow-ups' 内容;
- MergeRecord (models/merges.py): a merge keeps the survivor's values before it and the merged-away customers'
  whole rows.  Merged-away customers are the same person as the survivor (that is why they were merged), so
  erasing the survivor of a merge that stands erases those rows too; a merge undone since has given them back
  as customers of their own, and only the erased customer's own row is scrubbed;
- DuplicateScan (models/merges.py): the stored groups of the 重复客户 screen list names;
- ImportRun (models/imports.py): the import wizard's kept report lists, for each new row that probably repeats a
  stored customer, that customer's code and name.

Each keeps its shape, so an undo still works and puts back the anonymised values: an import undo that deletes
the customer it created still deletes it; a merge undo restores merged-away customers as anonymised ones.
"""
import json

from models import DuplicateScan, FollowUp, ImportChange, ImportRun, MergeRecord

PLACEHOLDER_TEXT = "（已匿名化）"


def _scrub_values(values, erased):
    """`values` (an import's before/after) with each erased column replaced; sealed values emptied."""
    if not values:
        return values, False
    changed = False
    for name in list(values):
        if name not in erased:
            continue
        old = values[name]
        if isinstance(old, dict) and "sealed" in old:
            new = {"sealed": None}
        elif old == "***":  # what an import's `after` writes for a sealed column: no value to remove
            new = old
        else:
            new = erased[name]
        if new != old:
            values[name] = new
            changed = True
    return values, changed


def _imports(customer, erased):
    rows = 0
    for change in ImportChange.select().where((ImportChange.model == "customer") & (ImportChange.record_id == customer.id)):
        before, changed_before = _scrub_values(change.before, erased)
        after, changed_after = _scrub_values(change.after, erased)
        if changed_before or changed_after:
            rows += ImportChange.update(before=before, after=after).where(ImportChange.id == change.id).execute()
    follow_ups = FollowUp.select(FollowUp.id).where(FollowUp.customer == customer.id)
    text = {"content": PLACEHOLDER_TEXT}
    for change in ImportChange.select().where((ImportChange.model == "followup")
                                              & ImportChange.record_id.in_(follow_ups)):
        before, changed_before = _scrub_values(change.before, text)
        after, changed_after = _scrub_values(change.after, text)
        if changed_before or changed_after:
            rows += ImportChange.update(before=before, after=after).where(ImportChange.id == change.id).execute()
    return rows


def _snapshot(row, erased_values, now):
    """A merge record's customer row (dedup.merge.snapshot) with the erased columns replaced."""
    row.update(erased_values(row.get("code") or ""))
    row.pop("id_number_digest", None)
    row.pop("bank_account_digest", None)
    row["anonymised_at"] = str(now)
    return row


def _merges(customer, erased_values, now):
    from .sections import merges_of

    rows = 0
    for record in merges_of(customer):
        data = json.loads(record.data)
        if record.survivor_id == customer.id:
            _snapshot(data.get("survivor_before") or {}, erased_values, now)
        for row in data.get("merged") or []:
            if row.get("id") == customer.id or (record.survivor_id == customer.id and not record.undone):
                _snapshot(row, erased_values, now)
        rows += MergeRecord.update(data=json.dumps(data, ensure_ascii=False)).where(MergeRecord.id == record.id).execute()
    return rows


def _duplicate_scans(customer):
    rows = 0
    pattern = f"%{customer.code}%"
    for scan in DuplicateScan.select().where(DuplicateScan.groups ** pattern):
        groups = json.loads(scan.groups)
        changed = False
        for group in groups:
            ids, names = group.get("ids") or [], group.get("names") or []
            for index, customer_id in enumerate(ids):
                if customer_id == customer.id and index < len(names):
                    names[index] = f"已匿名化客户 {customer.code}"
                    changed = True
        if changed:
            rows += DuplicateScan.update(groups=json.dumps(groups, ensure_ascii=False)).where(
                DuplicateScan.id == scan.id).execute()
    return rows


def _import_runs(customer):
    """The wizard's reports that name the customer as a probable duplicate of a file row."""
    rows = 0
    for run in ImportRun.select().where(ImportRun.report.cast("text") ** f"%{customer.code}%"):
        report = run.report or {}
        changed = False
        for duplicate in report.get("duplicates") or []:
            for match in duplicate.get("matches") or []:
                if match.get("code") == customer.code and match.get("name") != f"已匿名化客户 {customer.code}":
                    match["name"] = f"已匿名化客户 {customer.code}"
                    # the file's row that probably repeats the customer names the same person
                    duplicate["name"] = PLACEHOLDER_TEXT
                    changed = True
        if changed:
            rows += ImportRun.update(report=report).where(ImportRun.id == run.id).execute()
    return rows


def scrub(customer, erased_values, now):
    """Scrub every history record of `customer`; {what: rows rewritten}."""
    erased = erased_values(customer.code)
    return {"import_records": _imports(customer, erased), "merge_records": _merges(customer, erased_values, now),
            "duplicate_scans": _duplicate_scans(customer), "import_reports": _import_runs(customer)}


__all__ = ["scrub"]
