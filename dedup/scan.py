"""The duplicate scan over the stored customers: blocking keys once per customer, pairs only within blocks,
union-find into groups.  Nothing here compares every customer with every other.

    groups = scan()                       # every customer
    groups = scan(owner_ids=[3, 7])       # the customers of these owners only (access.owner_ids)
    groups = scan(min_score=0.9)          # exact kinds and equal company names only

1. One query reads the columns the rules need (ids and the id-number *digest*, never the encrypted
   number), in batches; each row becomes a profile (dedup.profile): exact keys, name core, evidence keys.
2. Every key maps to the rows that hold it (a block).  Exact blocks (mobile, e-mail, id number) and
   equal company cores link their rows in a chain: n rows, n - 1 links.
3. Evidence blocks (contact, address, landline, company mail domain) yield the candidate pairs for
   similar names.  A key held by more than MAX_EVIDENCE customers (a switchboard, a very common contact
   name) tells nobody apart and is skipped, which also bounds the pairs per block.
4. Links are joined strongest first (union-find); a group's score is its weakest joining link, its
   reason every rule seen inside it, strongest first.
"""
import itertools
from dataclasses import dataclass, field

from models import Customer, db

from . import profile as rules
from .normalise import pinyin

MAX_EVIDENCE = 100  # customers sharing one piece of evidence, beyond which it is not evidence
BATCH = 20000
READ = (Customer.id, Customer.name, Customer.customer_type, Customer.contact, Customer.mobile, Customer.phone,
        Customer.email, Customer.address, Customer.id_number_digest)


@dataclass
class Group:
    ids: list
    codes: list
    names: list
    reason: str
    score: float
    reasons: list = field(default_factory=list)  # [(reason, score)], strongest first

    def as_json(self):
        return {"codes": self.codes, "reason": self.reason, "score": self.score}


def _rows(owner_ids, batch):
    query = Customer.select(*READ).order_by(Customer.id)
    if owner_ids is not None:
        query = query.where(Customer.owner.in_(list(owner_ids)))
    cursor = db.execute(query)
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        yield from rows


class _Links:
    """Candidate links, then union-find over them, strongest first (Kruskal's order)."""

    def __init__(self, min_score):
        self.min_score = min_score
        self.edges = []

    def add(self, score, i, j, reason):
        if score >= self.min_score and i != j:
            self.edges.append((score, i, j, reason))

    def chain(self, members, score, reason):
        first = members[0]
        for other in members[1:]:
            self.add(score, first, other, reason)

    def groups(self):
        parent = {}

        def root(x):
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        self.edges.sort(key=lambda edge: -edge[0])
        weakest = {}
        for score, i, j, _ in self.edges:
            a, b = root(i), root(j)
            if a != b:
                parent[b] = a
                weakest[a] = min(score, weakest.pop(b, score), weakest.get(a, score))
        members, reasons = {}, {}
        for x in parent:
            members.setdefault(root(x), []).append(x)
        for score, i, _, reason in self.edges:
            seen = reasons.setdefault(root(i), {})
            seen[reason] = max(score, seen.get(reason, 0))
        return [(sorted(members[r]), weakest[r], sorted(reasons[r].items(), key=lambda p: (-p[1], p[0])))
                for r in members if r in weakest]


def _name_blocks(blocks, places, links):
    """Equal company cores: rows whose places agree are one company; rows naming no place join the
    others only when those name one place between them."""
    for members in blocks.values():
        clusters = []  # [set of places, [rows]]
        bare = []
        for index in members:
            where = places[index]
            if not where:
                bare.append(index)
                continue
            for cluster in clusters:
                if cluster[0] & where:
                    cluster[0] |= where
                    cluster[1].append(index)
                    break
            else:
                clusters.append([set(where), [index]])
        if len(clusters) == 1:
            clusters[0][1].extend(bare)
        elif bare:
            clusters.append([set(), bare])
        for _, rows in clusters:
            if len(rows) > 1:
                links.chain(rows, rules.NAME_SCORE, rules.NAME_REASON)


def _evidence_pairs(evidence, companies, places, cores):
    """{(i, j): {kind}} for rows sharing evidence, of the same type, whose places agree."""
    pairs = {}
    for kind, blocks in evidence.items():
        for members in blocks.values():
            for x, i in enumerate(members):
                for j in members[x + 1:]:
                    if companies[i] != companies[j] or not rules.places_agree(places[i], places[j]):
                        continue
                    if cores[i] is None or cores[j] is None:
                        continue
                    pairs.setdefault((i, j), set()).add(kind)
    return pairs


def _blocks(keys, size_limit=None):
    """{key: [row indexes]} of the keys (a column, None for no key) held by two rows or more (and at most
    `size_limit`), members in row order: one pandas group-by instead of a dict update per row."""
    import pandas as pd

    series = pd.Series(keys, dtype=object)
    series = series[series.notna()]
    series = series[series.duplicated(keep=False)]
    if series.empty:
        return {}
    blocks = {key: list(members) for key, members in series.groupby(series, sort=False).indices.items()}
    positions = series.index.to_numpy()
    blocks = {key: positions[members].tolist() for key, members in blocks.items()
              if size_limit is None or len(members) <= size_limit}
    return blocks


def scan(owner_ids=None, min_score=0.0, batch=BATCH):
    """Groups of probable duplicates among the customers of `owner_ids` (None: all), strongest first.

    Runs on the bound database (models.bind); a benchmark binds its own and calls this.
    """
    ids, cores, places, companies = [], [], [], []
    exact = {kind: [] for kind in rules.EXACT}
    evidence = {kind: [] for kind in rules.EVIDENCE}
    rows = _rows(owner_ids, batch)
    while True:
        chunk = list(itertools.islice(rows, batch))
        if not chunk:
            break
        columns = list(zip(*chunk))
        ids.extend(columns[0])
        found = rules.key_columns(*columns[1:])
        cores.extend(found[0])
        places.extend(found[1])
        companies.extend(found[2])
        for kind, keys in found[3].items():
            exact[kind].extend(keys)
        for kind, keys in found[4].items():
            evidence[kind].extend(keys)

    links = _Links(min_score)
    for kind, keys in exact.items():
        reason, score = rules.EXACT[kind]
        for members in _blocks(keys).values():
            links.chain(members, score, reason)
    _name_blocks(_blocks([core if company else None for core, company in zip(cores, companies)]), places, links)
    if min_score <= rules.SIMILAR_CAP:
        sounds = {}
        blocks = {kind: _blocks(keys, MAX_EVIDENCE) for kind, keys in evidence.items()}
        for (i, j), kinds in _evidence_pairs(blocks, companies, places, cores).items():
            for x in (i, j):
                if x not in sounds:
                    sounds[x] = pinyin(cores[x])
            sim = rules.similarity(cores[i], cores[j], sounds[i], sounds[j])
            if sim is not None:
                links.add(rules.similar_score(sim, kinds), i, j, rules.similar_reason(cores[i] == cores[j], kinds))

    found = links.groups()
    labels = _labels([ids[x] for members, _, _ in found for x in members])
    groups = []
    for members, score, reasons in found:
        member_ids = [ids[x] for x in members]
        groups.append(Group(
            ids=member_ids, codes=[labels[i][0] for i in member_ids], names=[labels[i][1] for i in member_ids],
            reason="；".join(reason for reason, _ in reasons), score=round(score, 2), reasons=reasons,
        ))
    groups.sort(key=lambda g: (-g.score, g.codes[0]))
    return groups


def _labels(ids, chunk=5000):
    """{id: (code, name)} of the grouped customers only."""
    labels = {}
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        query = Customer.select(Customer.id, Customer.code, Customer.name).where(Customer.id.in_(part)).tuples()
        labels.update((row[0], (row[1], row[2])) for row in query)
    return labels
