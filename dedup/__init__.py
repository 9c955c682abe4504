"""Duplicate customers: the scan over the stored customers, the check of one record before it is
written, and merge with undo.  Never imports Flask: the admin, the CLI and the importer all call it.

    dedup.scan(owner_ids=None, min_score=0.0)      -> [Group]   groups of probable duplicates
    dedup.probable_duplicates(values, exclude_id)  -> [Match]   stored customers one record duplicates
    dedup.merge.merge(survivor_id, other_ids, picks, username)   and   dedup.merge.undo(merge_id, username)

What counts as a duplicate, the scores and merge are described in docs/duplicates.md.
"""
from .probe import Match, probable_duplicates
from .scan import Group, scan

__all__ = ["Group", "Match", "probable_duplicates", "scan"]
