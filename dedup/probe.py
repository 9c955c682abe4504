"""The stored customers that one new or edited customer probably duplicates, before anything is written.

    probable_duplicates({"name": "深圳華為技術有限公司", "mobile": "13800138000"})
    -> [Match(id=12, code="HN-HL-2024-001", name="深圳华为技术有限公司", score=0.97,
              reasons=[("手机号码相同", 0.97), ("公司名称相同（繁简/后缀/城市归一后）", 0.9)])]

Candidates come from indexed lookups only, so one check costs a few milliseconds however many customers
there are (the customer form calls it on save, the importer once per row): equal mobile, e-mail or id-number
digest (b-tree indexes), and names containing the new name's core, in simplified or traditional characters
(the customer search index: FTS5 trigrams on SQLite, pg_trgm on PostgreSQL).  Each candidate is then judged
by the same rules as the scan (dedup.profile.compare).  A similar name that shares no three characters with
the new one (华为技术 / 华伟技术) is found by the scan, not here.
"""
from dataclasses import dataclass

from models import Customer, sealed, search
from models import standardise

from . import profile as rules
from .normalise import traditional_forms

CANDIDATES = 200  # rows judged per check at most
FIELDS = ("name", "customer_type", "contact", "mobile", "phone", "email", "address")


@dataclass
class Match:
    id: int
    code: str
    name: str
    score: float
    reasons: list  # [(reason, score)], strongest first

    @property
    def reason(self):
        return "；".join(reason for reason, _ in self.reasons)


def _digest(values):
    number = standardise.code(values.get("id_number"))
    return sealed.digest(number) if number else values.get("id_number_digest")


def _profile_of(values):
    return rules.profile(*(values.get(name) for name in FIELDS), _digest(values))


def _name_terms(core):
    """Terms whose presence in a stored name makes it a candidate (at least three characters, so
    the trigram index serves them)."""
    terms = {core, *traditional_forms(core)} if core else set()
    return {term for term in terms if len(term) >= 3}


def _candidate_profile(values, profiles):
    if profiles is None:
        return rules.profile(*values)
    found = profiles.get(values)
    if found is None:
        found = profiles[values] = rules.profile(*values)
    return found


def probable_duplicates(values, exclude_id=None, owner_ids=None, limit=10, profiles=None):
    """[Match] of stored customers that `values` (a dict of customer fields; id_number in clear or
    id_number_digest) probably duplicates, strongest first.  `owner_ids` limits the candidates to those
    owners' customers (access.owner_ids: None is everyone's).  `profiles`: a dict a caller checking many
    records in a row keeps across its calls (the importer's check), so a candidate found again is not
    profiled again (a profile is a function of the candidate's values alone; the key is those values)."""
    wanted = _profile_of(values)
    condition = None

    def either(part):
        nonlocal condition
        condition = part if condition is None else (condition | part)

    keys = dict(wanted.exact)
    if "mobile" in keys:
        either(Customer.mobile == keys["mobile"])
    if "email" in keys:
        either(Customer.email == keys["email"])
    # During a key rotation a stored digest may be under the old key: ask for the number's digest under each.
    number = standardise.code(values.get("id_number"))
    same_number = set(sealed.digests(number)) if number else {keys.get("id_number")} - {None}
    if "id_number" in keys:
        either(Customer.id_number_digest.in_(sorted(same_number)))
    for term in _name_terms(wanted.core):
        either(search.fragment_condition(["name"], term))
    if condition is None:
        return []
    query = Customer.select(Customer.id, Customer.code, *(getattr(Customer, f) for f in FIELDS),
                            Customer.id_number_digest).where(condition)
    if exclude_id is not None:
        query = query.where(Customer.id != exclude_id)
    if owner_ids is not None:
        query = query.where(Customer.owner.in_(list(owner_ids)))
    matches = []
    for row in query.order_by(Customer.id).limit(CANDIDATES).tuples():
        if row[-1] in same_number:  # the same ID number, whichever key its digest is under
            row = (*row[:-1], keys["id_number"])
        reasons = rules.compare(wanted, _candidate_profile(row[2:], profiles))
        if reasons:
            matches.append(Match(id=row[0], code=row[1], name=row[2], score=reasons[0][1], reasons=reasons))
    matches.sort(key=lambda m: (-m.score, m.id))
    return matches[:limit]
