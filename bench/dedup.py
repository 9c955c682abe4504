"""Duplicate scan of a labelled set: dedup.scan beside Splink (DuckDB backend) on the same data, in the same run.

    .venv/bin/python -m bench.dedup                          # 1,000,000 customers
    .venv/bin/python -m bench.dedup --size 100000 --write-docs

The labelled set is bench.dedup_labels' (planted duplicate groups of every kind the scan claims, look-alike
traps, the truth in `bench_truth`), generated once into bench/data/dedup_<size>.db and reused.  Each tool runs
in a process of its own (so its peak memory is its own) and is scored on the same truth:

- recall = true pairs found / true pairs; precision = true pairs found / pairs found, where the pairs of a
  tool are every pair of customers inside one of its groups (clusters);
- time: wall clock from reading the customers to the groups.  Splink's includes our key computation
  (dedup.profile.key_columns, the same normalised fields the scan uses), its training and prediction and the
  clustering; the normalisation alone is reported too;
- peak memory: the process's peak RSS (ru_maxrss), interpreter and libraries included.

Splink's configuration (SPLINK_* below): link_type dedupe_only; blocking on mobile, e-mail, ID digest,
name core, address, landline, company mail domain, and contact + the first two letters of the name's pinyin;
comparisons: name core (Jaro-Winkler 0.92 / 0.8 and pinyin exact), contact, address, landline, mobile,
e-mail, ID digest and mail domain (exact; not the customer type: EM underflowed on it at 1M); λ from the deterministic rules mobile / e-mail / ID (recall 0.8),
u by random sampling (1M pairs), m by EM on two blocking rules (mobile; name core); predict and cluster at
match probability SPLINK_THRESHOLD.
"""
import argparse
import json
import multiprocessing
import os
import resource
import time

from bench.dedup_labels import generate, pairs_of, true_pairs, truth
from bench.list_page import DATA, RESULTS, write_docs
from bench.timing import progress

SPLINK_THRESHOLD = 0.9
EVIDENCE_LIMIT = 100  # as dedup.scan.MAX_EVIDENCE: a key shared by more customers is no block for Splink either


def dataset(size, seed=7):
    """The labelled SQLite file of `size` customers, generated once."""
    path = os.path.join(DATA, f"dedup_{size}.db")
    if not os.path.exists(path):
        progress(f"generating {size:,} labelled customers into {path}")
        generate(path, size, seed)
    return path


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(path):
    """[customer ids] of each group of dedup.scan, and the seconds it took."""
    import models
    import dedup

    models.bind("sqlite:///" + path)
    start = time.perf_counter()
    groups = dedup.scan()
    return [g.ids for g in groups], time.perf_counter() - start, {}


def normalised_frame(path):
    """The customers' normalised fields (dedup.profile.key_columns) as a DataFrame for Splink."""
    import sqlite3

    import pandas as pd

    from dedup import profile as rules
    from dedup.normalise import pinyin

    con = sqlite3.connect(path)
    rows = con.execute("SELECT id, name, customer_type, contact, mobile, phone, email, address, id_number_digest "
                       "FROM customer ORDER BY id").fetchall()
    con.close()
    columns = list(zip(*rows))
    cores, _, companies, exact, evidence = rules.key_columns(*columns[1:])
    sounds = [pinyin(core) if core else None for core in cores]
    return pd.DataFrame({
        "unique_id": columns[0], "name": cores, "name_sound": sounds,
        "sound_head": [sound[:2] if sound else None for sound in sounds],
        "company": ["1" if company else "0" for company in companies],
        **exact, **evidence})


def splink_settings():
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[
            block_on("mobile"), block_on("email"), block_on("id_number"), block_on("name"), block_on("address"),
            block_on("phone"), block_on("domain"), block_on("contact", "sound_head")],
        comparisons=[
            cl.CustomComparison(output_column_name="name", comparison_levels=[
                {"sql_condition": "name_l IS NULL OR name_r IS NULL", "label_for_charts": "null",
                 "is_null_level": True},
                {"sql_condition": "name_l = name_r", "label_for_charts": "exact"},
                {"sql_condition": "name_sound_l = name_sound_r", "label_for_charts": "same pinyin"},
                {"sql_condition": "jaro_winkler_similarity(name_l, name_r) >= 0.92", "label_for_charts": "jw 0.92"},
                {"sql_condition": "jaro_winkler_similarity(name_l, name_r) >= 0.8", "label_for_charts": "jw 0.8"},
                {"sql_condition": "ELSE", "label_for_charts": "else"}]),
            cl.ExactMatch("contact"), cl.ExactMatch("address"), cl.ExactMatch("phone"), cl.ExactMatch("mobile"),
            cl.ExactMatch("email"), cl.ExactMatch("id_number"), cl.ExactMatch("domain"),
        ],  # an exact comparison on the customer type made EM underflow at 1M (m below 1e-300): left out
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def run_splink(path):
    import logging

    from splink import DuckDBAPI, Linker, block_on

    start = time.perf_counter()
    frame = normalised_frame(path)
    normalised = time.perf_counter() - start
    # Keys shared by more than EVIDENCE_LIMIT customers are no block (as in the scan): blank them for blocking
    # would change the comparisons, so they are only left out of the contact block through its size.
    db_api = DuckDBAPI()
    table = db_api.register(frame)
    linker = Linker(table, splink_settings(), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("mobile"), block_on("email"), block_on("id_number")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("mobile"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name"))
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=SPLINK_THRESHOLD).as_pandas_dataframe()
    groups = clusters.groupby("cluster_id")["unique_id"].apply(list)
    groups = [members for members in groups if len(members) > 1]
    return groups, time.perf_counter() - start, {"normalise_s": normalised}


def _child(tool, path, queue):
    runner = {"dedup.scan": run_ours, "Splink (DuckDB)": run_splink}[tool]
    try:
        groups, seconds, extra = runner(path)
    except Exception as exc:  # reported as the tool's row, so the parent never waits for a dead child
        queue.put({"tool": tool, "error": f"{type(exc).__name__}: {exc}"[:300]})
        raise
    found = pairs_of(groups)
    true = true_pairs(path)
    labels = truth(path)
    hit = found & true
    missed, wrong = {}, {}
    for a, _ in true - found:
        missed[labels[a][1]] = missed.get(labels[a][1], 0) + 1
    for a, b in found - true:
        key = "+".join(sorted({labels[a][1], labels[b][1]}))
        wrong[key] = wrong.get(key, 0) + 1
    queue.put({"tool": tool, "seconds": seconds, "groups": len(groups), "pairs": len(found), "true_pairs": len(true),
               "recall": len(hit) / len(true) if true else 1.0, "precision": len(hit) / len(found) if found else 1.0,
               "peak_mb": _peak_mb(), "missed": missed, "wrong": wrong, **extra})


def measure(path, tools=("dedup.scan", "Splink (DuckDB)")):
    """One row per tool, each run in a fresh process on the file at `path`."""
    context = multiprocessing.get_context("spawn")
    rows = []
    for tool in tools:
        progress(f"{tool} on {path}")
        queue = context.Queue()
        process = context.Process(target=_child, args=(tool, path, queue))
        process.start()
        row = queue.get()
        process.join()
        if "error" in row:
            progress(f"{tool} failed: {row['error']}")
            continue
        progress(f"{tool}: {row['seconds']:.1f} s, recall {row['recall']:.4f}, precision {row['precision']:.4f}")
        rows.append(row)
    return rows


def splink_available():
    try:
        import splink  # noqa: F401
    except ImportError:
        return False
    return True


def table(rows, size, load):
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M')} on {size:,} labelled customers ({rows[0]['true_pairs']:,} true "
             f"pairs), load average {load[0]:.2f} before and {load[1]:.2f} after (2 cores, shared); one run per tool, "
             "each in its own process.", "",
             "| tool | time s | ÷ dedup.scan | recall | precision | groups | pairs found | peak MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    ours = rows[0]["seconds"]
    for row in rows:
        note = f" (normalising {row['normalise_s']:.1f} s of it)" if "normalise_s" in row else ""
        lines.append(f"| {row['tool']} | {row['seconds']:.1f}{note} | {row['seconds'] / ours:.2f} | {row['recall']:.4f} "
                     f"| {row['precision']:.4f} | {row['groups']:,} | {row['pairs']:,} | {row['peak_mb']:,.0f} |")
    lines.append("")
    for row in rows:
        missed = ", ".join(f"{k} {v}" for k, v in sorted(row["missed"].items(), key=lambda kv: -kv[1])) or "none"
        wrong = ", ".join(f"{k} {v}" for k, v in sorted(row["wrong"].items(), key=lambda kv: -kv[1])[:6]) or "none"
        lines.append(f"- {row['tool']}: true pairs missed by kind: {missed}; wrong pairs by kinds: {wrong}.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--path", default=None, help="a labelled file (bench.dedup_labels) to use instead")
    parser.add_argument("--no-splink", action="store_true", help="our scan only")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    path = args.path or dataset(args.size)
    tools = ("dedup.scan",) if args.no_splink or not splink_available() else ("dedup.scan", "Splink (DuckDB)")
    before = os.getloadavg()[0]
    rows = measure(path, tools)
    markdown = table(rows, args.size, (before, os.getloadavg()[0]))
    print(markdown)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "dedup.json"), "w") as handle:
        json.dump(rows, handle, indent=1, ensure_ascii=False)
    if args.write_docs:
        write_docs(markdown, section="dedup")
    return rows


if __name__ == "__main__":
    main()
