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
   n - 1 links; a block of equal cores is split by the places the names carry first (arrays again).
3. Evidence blocks (contact, address, landline, company mail domain) yield the candidate pairs for
   similar names.  A key held by more than MAX_EVIDENCE customers (a switchboard, a very common contact
   name) tells nobody apart and is skipped, which also bounds the pairs per block.  A block is split by
   customer type and place before its pairs are made (pairs of two types, or of names placed in two
   cities, are never candidates): made and then dropped, they were 95 % of the pairs on the demo data
   (10.6 million at 1M customers) and half of the scan's blocking time.  The names of the
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
    return _pairs_within(*_keyed(codes, (2, limit)))


def _pairs_within(rows, blocks):
    """(rows[a], rows[b]) of every pair a < b in one block, where `blocks` (one block id per row) holds each
    block's rows next to each other."""
    import numpy as np

    starts = np.flatnonzero(np.diff(blocks, prepend=-1))
    sizes = np.diff(np.append(starts, len(rows)))
    later = np.repeat(starts + sizes, sizes) - np.arange(len(rows)) - 1  # rows after each one in its block
    first = np.repeat(np.arange(len(rows)), later)
    step = np.arange(len(first)) - np.repeat(np.cumsum(later) - later, later)  # 0, 1, .. per first row
    return rows[first], rows[first + 1 + step]


def _sorted_blocks(rows, keys):
    """(rows, blocks): `rows` ordered by key and, within a key, by row; `blocks` the keys as 0, 1, ..."""
    import numpy as np

    order = np.lexsort((rows, keys))
    rows, keys = rows[order], keys[order]
    return rows, np.cumsum(np.diff(keys, prepend=keys[:1]) != 0) if len(keys) else keys


class _Places:
    """The place names of the customers' company names (dedup.profile.places_agree: two rows agree when one
    names no place or they share one), as arrays: `code` of each row's set of places (-1: none), and each
    set's place ids (`start`, `size` into `ids`).  The few distinct sets are read once, not a row at a time."""

    def __init__(self, places):
        import numpy as np
        import pandas as pd

        self.code, sets = pd.factorize(np.asarray([where or None for where in places], dtype=object))
        index = {}
        members = [[index.setdefault(place, len(index)) for place in sorted(where)] for where in sets]
        self.count = max(len(index), 1)
        self.size = np.array([len(ids) for ids in members], dtype=np.int64)
        self.start = np.cumsum(self.size) - self.size
        self.ids = np.array([place for ids in members for place in ids], dtype=np.int64)

    def spread(self, rows):
        """(rows, place ids): each of `rows` that names places once per place it names."""
        import numpy as np

        rows = rows[self.code[rows] >= 0]
        codes = self.code[rows]
        sizes = self.size[codes]
        within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        return np.repeat(rows, sizes), self.ids[np.repeat(self.start[codes], sizes) + within]


def _agreeing_pairs(rows, blocks, companies, places):
    """(first, second) of the pairs of one block (rows and blocks as _keyed gives them) that are customers of one
    type whose places agree: the pairs of rows sharing the block, the type and a place, and the pairs in which
    one row names no place.  Pairs sharing two places come twice (the caller keeps each pair once)."""
    import numpy as np

    typed = blocks.astype(np.int64) * 2 + companies[rows]  # the block of one customer type
    bare = places.code[rows] < 0
    found_first, found_second = [], []
    if bare.any():  # blocks holding a row that names no place: their pairs with a bare row
        holding = np.zeros(typed.max() + 1, dtype=bool)
        holding[typed[bare]] = True
        kept = holding[typed]
        sub_rows, sub_blocks = _sorted_blocks(rows[kept], typed[kept])
        first, second = _pairs_within(sub_rows, sub_blocks)
        either = (places.code[first] < 0) | (places.code[second] < 0)
        found_first.append(first[either])
        found_second.append(second[either])
    spread_rows, place_ids = places.spread(rows[~bare])
    if len(spread_rows):  # rows naming places: pairs sharing the block, the type and a place
        block_of = np.zeros(len(places.code), dtype=np.int64)
        block_of[rows] = typed
        sub_rows, sub_blocks = _sorted_blocks(spread_rows, block_of[spread_rows] * places.count + place_ids)
        first, second = _pairs_within(sub_rows, sub_blocks)
        found_first.append(first)
        found_second.append(second)
    if not found_first:
        return rows[:0], rows[:0]
    return np.concatenate(found_first), np.concatenate(found_second)


def _evidence_pairs(evidence, companies, places):
    """(first, second, kinds): the pairs of customers of one type whose places agree sharing evidence (blocks of
    at most MAX_EVIDENCE), each once, with the kinds they share as bits (KIND_BITS).  The type and the places
    split a block before any pair is made: on the demo data 10.6 million pairs of a block became 0.46 million."""
    import numpy as np

    found = [[], [], []]
    for kind, keys in evidence.items():
        first, second = _agreeing_pairs(*_keyed(_codes(keys), (2, MAX_EVIDENCE)), companies, places)
        found[0].append(first)
        found[1].append(second)
        found[2].append(np.full(len(first), KIND_BITS[kind], dtype=np.int8))
    first, second, bits = (np.concatenate(part) for part in found)
    pair = first.astype(np.int64) * len(companies) + second
    order = np.argsort(pair, kind="stable")
    pair, bits = pair[order], bits[order]
    starts = np.flatnonzero(np.diff(pair, prepend=-1))
    kinds = np.bitwise_or.reduceat(bits, starts) if len(starts) else bits
    pair = pair[starts]
    return pair // len(companies), pair % len(companies), kinds


def _name_blocks(codes, places, spots, links):
    """Equal company cores: rows whose places agree are one company; rows naming no place join the
    others only when those name one place between them.  `codes` are the cores' (_codes), `places` the
    rows' sets of places and `spots` the same as _Places.

    A block whose rows name one place each at most (nearly all) is split by place as arrays: rows of one place
    are one company, rows naming none another, or all one when the block names one place between them.  Only
    the blocks holding a row that names two places or more go through the clusters one row at a time."""
    import numpy as np

    rows, keyed = _keyed(codes)
    if not len(rows):
        return
    starts = np.flatnonzero(np.diff(keyed, prepend=-1))
    sizes = np.diff(np.append(starts, len(rows)))
    block = np.repeat(np.arange(len(starts)), sizes)
    code = spots.code[rows]
    named = code >= 0
    spot = np.full(len(rows), -1, dtype=np.int64)
    spot[named] = spots.ids[spots.start[code[named]]]  # the place of a row naming one
    single = ~named | (spots.size[np.where(named, code, 0)] == 1) if len(spots.size) else ~named
    simple = np.logical_and.reduceat(single, starts)[block]
    lowest = np.minimum.reduceat(np.where(named, spot, spots.count), starts)
    highest = np.maximum.reduceat(spot, starts)
    one_place = ((highest < 0) | (lowest == highest))[block]  # no two places in the block: one company
    split = np.where(one_place, 0, spot + 1)
    sub_rows, sub_blocks = _sorted_blocks(rows[simple], block[simple] * (spots.count + 1) + split[simple])
    starts_of = np.flatnonzero(np.diff(sub_blocks, prepend=-1))
    first = np.repeat(sub_rows[starts_of], np.diff(np.append(starts_of, len(sub_rows))))
    other = sub_rows != first
    for i, j in zip(first[other].tolist(), sub_rows[other].tolist()):
        links.add(rules.NAME_SCORE, i, j, rules.NAME_REASON)
    complex_rows = rows[~simple]
    blocks = np.split(complex_rows, np.flatnonzero(np.diff(block[~simple])) + 1) if len(complex_rows) else []
    for members in blocks:
        members = members.tolist()
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
        for _, together in clusters:
            if len(together) > 1:
                links.chain(together, rules.NAME_SCORE, rules.NAME_REASON)


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
    spots = _Places(customers.places)
    _name_blocks(_codes(names), customers.places, spots, links)
    if min_score > rules.SIMILAR_CAP:
        clock.lap("blocks")
        return links
    first, second, kinds = _evidence_pairs(customers.evidence, np.asarray(customers.companies, dtype=bool), spots)
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
