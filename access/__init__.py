"""The access policy: roles, permissions, row scope and column rules, read from data.

Everything that shows or changes records — admin screens, exports, reports, API —
asks this package, so a policy edit reaches every path at once.
"""
from .grant import Grant
from .masking import mask
from .policy import bump_version, current_version, grant_for
from .scope import customers_of, owner_ids, scope_query

__all__ = ["Grant", "mask", "bump_version", "current_version", "grant_for", "customers_of", "owner_ids", "scope_query"]
