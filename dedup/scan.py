"""The duplicate scan over the stored customers: blocking keys once per customer, pairs only within blocks,
union-find into groups.  Nothing here compares every customer with every other.

    groups = scan()                       # every customer
    groups = scan(owner_ids=[3, 7])       # the customers of these owners only (access.owner_ids)
    groups = scan(min_score=0.9)          # exact kinds and equal company names only

1. One query reads the columns the rules need (ids, codes, names and the id-number *digest*, never the
   encrypted number), in batches of 50,000; the keys of a batch are computed column by column
   (dedup.profile.key_columns): exact keys, name core and places, evidence keys.
2. Each key column becomes integer codes (one hash table in C, pandas.factorize); a block is a run of equal
   codes once sorted, so blocks and the pairs in them are numpy arrays, never Python objects per pair.
   Exact blocks (mobile, e-mail, id number) and equal company cores link their rows in a chain: n rows,
   n - 1 links.
3. Evidence blocks (contact, address, landline, company mail domain) yield the candidate pairs for
   similar names.  A key held by more than MAX_EVIDENCE customers (a switchboard, a very common contact
   name) tells nobody apart and is skipped, which also bounds the pairs per block.  The names of the
   candidate pairs are compared by rapidfuzz in C (dedup.profile.similarities), the pinyin of a name made
   once.
4. Links are joined strongest first (union-find); a group's score is its weakest joining link, its
   reason every rule seen inside it, strongest first.

The cyclic garbage collector is paused during a scan: it would otherwise walk the millions of keys made,
none of them garbage, again and again.  `scan(timings={})` reports the seconds of each phase.
"""
import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from models import Customer, db

from . import profile as rules

MAX_EVIDENCE = 100  # customers sharing one piece of evidence, beyond which it is not evidence
BATCH = 50000
READ = (Customer.id, Customer.code, Customer.name, Customer.customer_type, Customer.contact, Customer.mobile,
        Customer.phone, Customer.email, Customer.address, Customer.id_number_digest)
KIND_BITS = {kind: 1 << bit for bit, kind in enumerate(rules.EVIDENCE)}  # evidence kinds of a pair, as bits


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
    """Batches of rows (READ) in id order."""
    query = Customer.select(*READ).order_by(Customer.id)
    if owner_ids is not None:
        query = query.where(Customer.owner.in_(list(owner_ids)))
    cursor = db.execute(query)
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        yield rows


@dataclass
class _Customers:
    """The customers as columns (row i of every list is one customer): their labels and their keys."""
    ids: list
    codes: list
    names: list
    cores: list
    places: list
    companies: list
    exact: dict  # kind -> [key or None]
    evidence: dict  # kind -> [key or None]


class _Clock:
    """Seconds per phase of a scan, added up into `timings` (a dict) when one is given."""

    def __init__(self, timings):
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, phase):
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[phase] = self.timings.get(phase, 0.0) + now - self.last
        self.last = now


def _read(owner_ids, batch, clock):
    """Every customer's labels and keys (dedup.profile.key_columns), a batch at a time, so only one batch
    of raw values is held."""
    found = _Customers([], [], [], [], [], [], {kind: [] for kind in rules.EXACT},
                       {kind: [] for kind in rules.EVIDENCE})
    for rows in _rows(owner_ids, batch):
        clock.lap("read")
        columns = list(zip(*rows))
        found.ids.extend(columns[0])
        found.codes.extend(columns[1])
        found.names.extend(columns[2])
        cores, places, companies, exact, evidence = rules.key_columns(*columns[2:])
        found.cores.extend(cores)
        found.places.extend(places)
        found.companies.extend(companies)
        for kind, keys in exact.items():
            found.exact[kind].extend(keys)
        for kind, keys in evidence.items():
            found.evidence[kind].extend(keys)
        clock.lap("keys")
    clock.lap("read")
    return found


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


def _codes(keys):
    """A key column as integers: equal keys, equal codes; -1 where a row holds no key.  One hash table in C
    (pandas), after which every block is integer arithmetic over the whole column (numpy)."""
    import numpy as np
    import pandas as pd

    codes, _ = pd.factorize(np.asarray(keys, dtype=object))
    return codes


def _keyed(codes, sizes=(2, None)):
    """(rows, codes) of the rows holding a key whose block has between sizes[0] and sizes[1] rows (None: no
    upper limit), ordered by code and, within a block, by row."""
    import numpy as np

    rows = np.flatnonzero(codes >= 0)
    keyed = codes[rows]
    size = np.bincount(keyed)[keyed] if len(keyed) else keyed
    kept = (size >= sizes[0]) if sizes[1] is None else (size >= sizes[0]) & (size <= sizes[1])
    rows, keyed = rows[kept], keyed[kept]
    order = np.argsort(keyed, kind="stable")
    return rows[order], keyed[order]


def _chains(codes):
    """(first, other): every row of a block linked to the block's first row (n rows, n - 1 links)."""
    import numpy as np

    rows, keyed = _keyed(codes)
    starts = np.flatnonzero(np.diff(keyed, prepend=-1))  # where a block begins
    first = np.repeat(rows[starts], np.diff(np.append(starts, len(rows))))
    other = rows != first
    return first[other], rows[other]


def _blocks(codes):
    """[[rows]] of every block of two rows or more, rows in order."""
    import numpy as np

    rows, keyed = _keyed(codes)
    return [block.tolist() for block in np.split(rows, np.flatnonzero(np.diff(keyed)) + 1)] if len(rows) else []


def _pairs(codes, limit):
    """(first, second) of every pair of rows (first < second) sharing a key, in blocks of 2..limit rows."""
    import numpy as np

    rows, keyed = _keyed(codes, (2, limit))
    starts = np.flatnonzero(np.diff(keyed, prepend=-1))
    sizes = np.diff(np.append(starts, len(rows)))
    later = np.repeat(starts + sizes, sizes) - np.arange(len(rows)) - 1  # rows after each one in its block
    first = np.repeat(np.arange(len(rows)), later)
    step = np.arange(len(first)) - np.repeat(np.cumsum(later) - later, later)  # 0, 1, .. per first row
    return rows[first], rows[first + 1 + step]


def _evidence_pairs(evidence, companies):
    """(first, second, kinds): the pairs of customers of one type sharing evidence (blocks of at most
    MAX_EVIDENCE), each once, with the kinds they share as bits (KIND_BITS)."""
    import numpy as np

    found = [[], [], []]
    for kind, keys in evidence.items():
        first, second = _pairs(_codes(keys), MAX_EVIDENCE)
        same = companies[first] == companies[second]
        found[0].append(first[same])
        found[1].append(second[same])
        found[2].append(np.full(np.count_nonzero(same), KIND_BITS[kind], dtype=np.int8))
    first, second, bits = (np.concatenate(part) for part in found)
    pair = first.astype(np.int64) * len(companies) + second
    order = np.argsort(pair, kind="stable")
    pair, bits = pair[order], bits[order]
    starts = np.flatnonzero(np.diff(pair, prepend=-1))
    kinds = np.bitwise_or.reduceat(bits, starts) if len(starts) else bits
    pair = pair[starts]
    return pair // len(companies), pair % len(companies), kinds


def _name_blocks(blocks, places, links):
    """Equal company cores: rows whose places agree are one company; rows naming no place join the
    others only when those name one place between them."""
    for members in blocks:
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


def _agreeing(places, first, second):
    """Which pairs (first[k], second[k]) have places that agree (dedup.profile.places_agree), as a mask:
    most rows name no place; the few distinct pairs of place sets are compared once each."""
    import numpy as np

    codes, sets = _place_codes(places)
    a, b = codes[first], codes[second]
    agree = (a < 0) | (b < 0)
    both = np.flatnonzero(~agree)
    if len(both):
        combined = a[both].astype(np.int64) * len(sets) + b[both]
        distinct, inverse = np.unique(combined, return_inverse=True)
        verdict = np.array([rules.places_agree(sets[c // len(sets)], sets[c % len(sets)]) for c in distinct.tolist()])
        agree[both] = verdict[inverse]
    return agree


def _place_codes(places):
    import numpy as np
    import pandas as pd

    codes, sets = pd.factorize(np.asarray([where or None for where in places], dtype=object))
    return codes, list(sets)


@contextmanager
def _collector_paused():
    """The cyclic garbage collector off while millions of objects are made and none is garbage (it would
    walk them all again and again: a third of the key computation's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scan(owner_ids=None, min_score=0.0, batch=BATCH, timings=None):
    """Groups of probable duplicates among the customers of `owner_ids` (None: all), strongest first.

    Runs on the bound database (models.bind); a benchmark binds its own and calls this.  `timings`, a dict,
    receives the seconds of each phase: read, keys, blocks, names (similar names compared), groups.
    """
    clock = _Clock(timings)
    with _collector_paused():
        customers = _read(owner_ids, batch, clock)
        found = _links(customers, min_score, clock).groups()
        groups = [Group(ids=[customers.ids[x] for x in members], codes=[customers.codes[x] for x in members],
                        names=[customers.names[x] for x in members], reason="；".join(reason for reason, _ in reasons),
                        score=round(score, 2), reasons=reasons)
                  for members, score, reasons in found]
        # Freed while the collector is off, so that it does not walk a million customers' keys once back on.
        del customers, found
    groups.sort(key=lambda g: (-g.score, g.codes[0]))
    clock.lap("groups")
    return groups


def _links(customers, min_score, clock):
    """The links between customers by every rule: exact keys, equal company names, similar names with
    shared evidence.  Blocks are computed over integer codes of the keys, as arrays; the names of the
    candidate pairs are compared in C (rapidfuzz)."""
    import numpy as np

    links = _Links(min_score)
    if not customers.ids:
        return links
    for kind, keys in customers.exact.items():
        reason, score = rules.EXACT[kind]
        if score >= min_score:
            for first, other in zip(*(side.tolist() for side in _chains(_codes(keys)))):
                links.add(score, first, other, reason)
    names = [core if company else None for core, company in zip(customers.cores, customers.companies)]
    _name_blocks(_blocks(_codes(names)), customers.places, links)
    if min_score > rules.SIMILAR_CAP:
        clock.lap("blocks")
        return links
    first, second, kinds = _evidence_pairs(customers.evidence, np.asarray(customers.companies, dtype=bool))
    keep = _agreeing(customers.places, first, second)
    first, second, kinds = first[keep], second[keep], kinds[keep]
    clock.lap("blocks")
    cores = np.asarray(customers.cores, dtype=object)
    sim = rules.similarities(cores, first, second)
    similar = np.flatnonzero(~np.isnan(sim))
    kind_sets = {bits: {kind for kind, bit in KIND_BITS.items() if bits & bit} for bits in range(1 << len(KIND_BITS))}
    for i, j, bits, value in zip(first[similar].tolist(), second[similar].tolist(), kinds[similar].tolist(),
                                 sim[similar].tolist()):
        shared = kind_sets[bits]
        links.add(rules.similar_score(value, shared), i, j, rules.similar_reason(cores[i] == cores[j], shared))
    clock.lap("names")
    return links
