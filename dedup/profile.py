"""One customer's matching keys (its profile), and the rules that say when two profiles are one customer.

Exact rules (one shared key is enough):
    身份证号相同 1.00 · 手机号码相同 0.97 · 邮箱相同 0.95
Probable rules:
    公司名称相同（繁简/后缀/城市归一后） 0.90 — two companies whose names are equal once traditional characters are
        simplified and the legal form (有限公司, Co., Ltd. ...) and place names (北京市, （深圳）...) are taken off,
        unless both names carry places and the places differ (杭州瑞达 and 北京瑞达 are two companies);
    名称相似且<证据>相同 0.74-0.85 — names similar by characters (ratio >= 0.8) or by sound (pinyin ratio >= 0.9),
        and the two records share at least one piece of evidence: contact person, address, landline, or the
        e-mail domain of a company (never a free mail service).  A name alone is never enough: two 个人 named 王伟
        with different mobiles are two customers.
"""
from collections import namedtuple

from rapidfuzz import fuzz

from . import normalise

EXACT = {  # kind -> (reason, score)
    "id_number": ("身份证号相同", 1.0),
    "mobile": ("手机号码相同", 0.97),
    "email": ("邮箱相同", 0.95),
}
NAME_REASON, NAME_SCORE = "公司名称相同（繁简/后缀/城市归一后）", 0.9
EVIDENCE = {"contact": "联系人", "address": "地址", "phone": "电话", "domain": "邮箱域名"}
CHAR_RATIO = 80  # rapidfuzz ratio (0-100) of the name cores
SOUND_RATIO = 90  # rapidfuzz ratio of their pinyin
SIMILAR_CAP = 0.85

Profile = namedtuple("Profile", "core places company exact evidence")


def profile(name=None, customer_type=None, contact=None, mobile=None, phone=None, email=None, address=None,
            id_number_digest=None):
    """The keys of one customer.  `id_number_digest` is the keyed digest column, never the number."""
    company = customer_type != "个人"
    places = frozenset()
    own = normalise.person_name(name)
    if company:
        found = normalise.company_name(name)
        core, places = found if found else (None, frozenset())
    else:
        core = own
    exact = []
    if id_number_digest:
        exact.append(("id_number", id_number_digest))
    key = normalise.mobile(mobile)
    if key:
        exact.append(("mobile", key))
    key = normalise.email(email)
    if key:
        exact.append(("email", key))
    evidence = []
    if core:
        person = normalise.contact(contact)
        # A person's contact is usually the person: their own name is no evidence of anything.
        if person and person != core and person != own:
            evidence.append(("contact", person))
        key = normalise.address(address)
        if key:
            evidence.append(("address", key))
        key = normalise.phone(phone)
        if key:
            evidence.append(("phone", key))
        key = normalise.email_domain(email) if company else None
        if key:
            evidence.append(("domain", key))
    return Profile(core, places, company, exact, evidence)


def places_agree(a, b):
    """False when both names carry places and none is shared (深圳华为 vs 北京华为)."""
    return not (a and b) or bool(a & b)


def similarity(core_a, core_b, sound_a=None, sound_b=None):
    """0..1 when the names are similar by characters or by sound, else None."""
    if not core_a or not core_b:
        return None
    chars = fuzz.ratio(core_a, core_b)
    if chars >= CHAR_RATIO:
        return chars / 100
    sound_a = normalise.pinyin(core_a) if sound_a is None else sound_a
    sound_b = normalise.pinyin(core_b) if sound_b is None else sound_b
    sounds = fuzz.ratio(sound_a, sound_b)
    if sounds >= SOUND_RATIO:
        return max(chars, sounds - 5) / 100  # same sound, other characters: a little less sure
    return None


def similarities(cores, first, second):
    """[similarity(cores[i], cores[j]) for i, j in zip(first, second)] as a float array, NaN for None, where
    `cores` is an object array of names (none empty where compared) and `first`, `second` index arrays.
    rapidfuzz compares the pairs in C, and each name's pinyin is made once, only for names of pairs whose
    characters differ too much."""
    import numpy as np
    from rapidfuzz import process

    sim = np.full(len(first), np.nan)
    if not len(first):
        return sim
    # With a cut-off rapidfuzz stops early and gives 0 below it: a character ratio under CHAR_RATIO matters
    # only in max(chars, sounds - 5), where it loses to any sounds >= SOUND_RATIO while SOUND_RATIO - 5 >= CHAR_RATIO.
    cutoff = CHAR_RATIO if SOUND_RATIO - 5 >= CHAR_RATIO else None
    chars = process.cpdist(cores[first], cores[second], scorer=fuzz.ratio, dtype=np.float64, workers=-1,
                           score_cutoff=cutoff)
    close = chars >= CHAR_RATIO
    sim[close] = chars[close] / 100
    far = np.flatnonzero(~close)
    if len(far):
        named = np.zeros(len(cores), dtype=bool)
        named[first[far]] = named[second[far]] = True
        rows = np.flatnonzero(named)
        sounds = np.empty(len(cores), dtype=object)
        sounds[rows] = normalise.pinyin_column(cores[rows].tolist())
        # A ratio is at most 100 * (1 - |a - b| / (a + b)) for lengths a, b: pairs whose pinyin lengths differ
        # by more than 1 - SOUND_RATIO / 100 of their sum cannot reach it (half of them), and are not compared.
        lengths = np.zeros(len(cores), dtype=np.int64)
        lengths[rows] = [len(sound) for sound in sounds[rows]]
        a, b = lengths[first[far]], lengths[second[far]]
        far = far[(100 - SOUND_RATIO) * (a + b) >= 100 * np.abs(a - b)]
        by_sound = process.cpdist(sounds[first[far]], sounds[second[far]], scorer=fuzz.ratio, dtype=np.float64,
                                  workers=-1, score_cutoff=SOUND_RATIO)
        alike = by_sound >= SOUND_RATIO
        sim[far[alike]] = np.maximum(chars[far[alike]], by_sound[alike] - 5) / 100  # as similarity()
    return sim


def similar_reason(same_name, kinds):
    labels = "、".join(EVIDENCE[k] for k in EVIDENCE if k in kinds)
    return f"名称{'相同' if same_name else '相似'}且{labels}相同"


def similar_score(sim, kinds):
    return round(min(SIMILAR_CAP, 0.5 + 0.3 * sim + 0.05 * (len(kinds) - 1)), 2)


def compare(a, b):
    """[(reason, score)] of every rule by which profiles `a` and `b` are one customer (best first)."""
    found = []
    keys_b = dict(b.exact)
    for kind, key in a.exact:
        if keys_b.get(kind) == key:
            found.append(EXACT[kind])
    if a.company and b.company and a.core and a.core == b.core and places_agree(a.places, b.places):
        found.append((NAME_REASON, NAME_SCORE))
    if a.core and b.core and a.company == b.company and places_agree(a.places, b.places):
        kinds = {kind for kind, key in a.evidence} & {kind for kind, key in b.evidence}
        kinds = {kind for kind in kinds if dict(a.evidence)[kind] == dict(b.evidence)[kind]}
        if kinds:
            sim = similarity(a.core, b.core)
            if sim is not None:
                found.append((similar_reason(a.core == b.core, kinds), similar_score(sim, kinds)))
    return sorted(found, key=lambda pair: -pair[1])


def key_columns(names, customer_types, contacts, mobiles, phones, emails, addresses, digests):
    """profile() of many customers as columns: (cores, places, companies, {exact kind: [key]},
    {evidence kind: [key]}), None where a customer has no such key.  The text folding of a whole column
    costs a few string operations instead of a few function calls per value (the scan's hot loop)."""
    plain_names = normalise.plain_column(names)
    owns = normalise.words_column(plain_names)
    companies = [kind != "个人" for kind in customer_types]
    company_cores, places = normalise.company_column(plain_names, owns, companies)
    cores = [core if company else own for core, company, own in zip(company_cores, companies, owns)]
    emails = normalise.email_column(emails)
    exact = {"id_number": [digest or None for digest in digests],
             "mobile": normalise.mobile_column(mobiles),
             "email": emails}
    people = normalise.words_of(contacts)
    # A person's contact is usually the person: their own name is no evidence of anything.
    evidence = {
        "contact": [person if core and person and person != core and person != own else None
                    for person, core, own in zip(people, cores, owns)],
        "address": [key if core and key and len(key) >= 6 else None
                    for key, core in zip(normalise.words_of(addresses), cores)],
        "phone": [key if core else None for key, core in zip(normalise.phone_column(phones), cores)],
        "domain": [normalise.domain_of(address) if core and company else None
                   for address, core, company in zip(emails, cores, companies)],
    }
    return cores, places, companies, exact, evidence


def profile_columns(*columns):
    """[profile(*row) for row in zip(*columns)], through key_columns."""
    cores, places, companies, exact, evidence = key_columns(*columns)
    return [Profile(cores[i], places[i], companies[i],
                    [(kind, keys[i]) for kind, keys in exact.items() if keys[i]],
                    [(kind, keys[i]) for kind, keys in evidence.items() if keys[i]])
            for i in range(len(cores))]
