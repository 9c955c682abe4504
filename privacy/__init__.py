"""Personal-data requests (PIPL / GDPR) for one customer, never imports Flask.

    document = privacy.export("HB-IT-2024-001", user)        # everything held about them, audited
    privacy.as_json(document), privacy.as_xlsx(document)     # the two formats
    privacy.erase("HB-IT-2024-001", user, confirm="HB-IT-2024-001")   # anonymise for good, audited

`user` None is the command line without --as: the whole database, every column in clear.  A user's export
and erase ask `access` like every other surface: the policy key `personaldata` (export, delete), the row
scope (a customer out of scope is not found) and the column rules (hidden columns left out, masked ones
masked).  The customer's details page (admin/privacy.py) and `run.py personal-data` call these functions.
See docs/privacy.md.
"""
from .erase import erase, erased
from .export import as_json, as_xlsx, export
from .policy import POLICY_KEY, PrivacyError, may_erase, may_export

__all__ = ["POLICY_KEY", "PrivacyError", "as_json", "as_xlsx", "erase", "erased", "export", "may_erase", "may_export"]
