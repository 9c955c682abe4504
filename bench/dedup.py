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
- peak memory: the process's peak RSS (VmHWM, bench.timing.peak_rss_mb), interpreter and libraries included.

dedup.scan's row also gives its phases (scan(timings=...)): read (the query and fetching the rows), keys
(dedup.profile.key_columns), blocks (factorized keys, blocks and candidate pairs as arrays), names (the
candidate pairs' names compared) and groups (union-find and the groups).

Splink's configuration (SPLINK_* below): link_type dedupe_only; blocking on mobile, e-mail, ID digest,
name core, address, landline, company mail domain, and contact + the first two letters of the name's pinyin;
comparisons: name core (exact, same pinyin, Jaro-Winkler 0.92 / 0.8), and exact comparisons on contact,
address, landline, mobile, e-mail, ID digest and mail domain (not the customer type: EM underflowed on it at
1M); λ from the deterministic rules mobile / e-mail / ID (recall 0.8); predictions and clusters at match
probability SPLINK_THRESHOLD.  Training, and why it is not EM throughout:

- EM on these data drives the m of the exact comparisons' levels to nothing (at 100k, blocked on name core:
  m of "contact differs" 1e-20, of "domain differs" 1e-258, then an m of 1.6e-320, which Splink refuses with
  a ValueError; at 1M the same on the customer type before).  A planted duplicate shares one key and leaves
  the others empty or different, so inside any training block EM's "matches" agree on everything or on
  nothing.  So the m of each exact comparison is fixed at a stated prior, SPLINK_M_AGREE (0.6 agree, 0.4
  differ), and EM (blocked on mobile) estimates only the name comparison's m;
- the u of an exact comparison is fixed at what random sampling estimates, computed from the value counts
  (exact_u): sampling 10^7 random pairs sees no two records sharing an address, landline or ID, and leaves
  their u at a default a thousand times too high; the name comparison's u is sampled (SPLINK_U_SAMPLE pairs);
- the contact comparison is term-frequency adjusted (SPLINK_TF): a contact name thousands of customers carry
  (王伟) says less than a rare one.  Without it the common-contact traps were grouped (precision 0.967 at 100k).
"""
import argparse
import json
import multiprocessing
import os
import time

from bench.dedup_labels import generate, pairs_of, true_pairs, truth
from bench.list_page import DATA, RESULTS, write_docs
from bench.timing import peak_rss_mb, progress

SPLINK_THRESHOLD = 0.9


def dataset(size, seed=7):
    """The labelled SQLite file of `size` customers, generated once."""
    path = os.path.join(DATA, f"dedup_{size}.db")
    if not os.path.exists(path):
        progress(f"generating {size:,} labelled customers into {path}")
        generate(path, size, seed)
    return path


def _peak_mb():
    return peak_rss_mb()  # VmHWM: ru_maxrss would carry the parent's peak over fork and exec


def run_ours(path):
    """[customer ids] of each group of dedup.scan, and the seconds it took."""
    import models
    import dedup

    models.bind("sqlite:///" + path)
    phases = {}
    start = time.perf_counter()
    groups = dedup.scan(timings=phases)
    return [g.ids for g in groups], time.perf_counter() - start, {"phases": phases}


def normalised_frame(path):
    """The customers' normalised fields as a DataFrame for Splink: read and computed by the scan's own first
    phases (dedup.scan._read: dedup.profile.key_columns by batches, the collector paused), so Splink starts
    from the same keys, made as fast."""
    import pandas as pd

    import models
    from dedup.normalise import pinyin_column
    from dedup.scan import BATCH, _Clock, _collector_paused, _read

    models.bind("sqlite:///" + path)
    with _collector_paused():
        customers = _read(None, BATCH, _Clock(None))
        cores = customers.cores
        sound_of = iter(pinyin_column([core for core in cores if core]))
        sounds = [next(sound_of) if core else None for core in cores]
        columns = {"unique_id": customers.ids, "name": cores, "name_sound": sounds,
                   "sound_head": [sound[:2] if sound else None for sound in sounds],
                   "company": ["1" if company else "0" for company in customers.companies],
                   **customers.exact, **customers.evidence}
        # object columns: DuckDB reads the Python strings itself (pandas would first copy each into Arrow)
        frame = pd.DataFrame({name: pd.Series(values, dtype=object if name != "unique_id" else None)
                              for name, values in columns.items()})
        del customers, columns, cores, sounds
    return frame


EXACT_COLUMNS = ("contact", "address", "phone", "mobile", "email", "id_number", "domain")
SPLINK_M_AGREE = 0.6  # the fixed m of an exact comparison's agreement level (its disagreement: 0.4)
SPLINK_U_SAMPLE = 1e7  # random pairs for the u of the name comparison
SPLINK_TF = ("contact",)  # term-frequency adjusted: a contact name thousands of customers carry counts less


def exact_u(frame, column):
    """u of an exact comparison: the chance that two records, both with a value, agree, from the value
    counts (sum n(n-1) / N(N-1)) — what random sampling estimates, without having to draw the 10^9 pairs
    that it takes to see a rare key agree."""
    counts = frame[column].dropna().value_counts().to_numpy().astype(float)
    held = counts.sum()
    return min(max(float((counts * (counts - 1)).sum() / (held * (held - 1))) if held > 1 else 0.0, 1e-12), 0.5)


def splink_settings(frame=None):
    """The Splink model; `frame` (normalised_frame) gives the u of the exact comparisons (0.001 without)."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    def exact(column):
        u = exact_u(frame, column) if frame is not None else 1e-3
        fixed = {"fix_m_probability": True, "fix_u_probability": True}
        return cl.CustomComparison(output_column_name=column, comparison_levels=[
            {"sql_condition": f"{column}_l IS NULL OR {column}_r IS NULL", "label_for_charts": "null",
             "is_null_level": True},
            {"sql_condition": f"{column}_l = {column}_r", "label_for_charts": "exact",
             "m_probability": SPLINK_M_AGREE, "u_probability": u, **fixed,
             **({"tf_adjustment_column": column, "tf_adjustment_weight": 1.0} if column in SPLINK_TF else {})},
            {"sql_condition": "ELSE", "label_for_charts": "else",
             "m_probability": 1 - SPLINK_M_AGREE, "u_probability": 1 - u, **fixed}])

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
            *(exact(column) for column in EXACT_COLUMNS),
        ],  # an exact comparison on the customer type made EM underflow at 1M (m below 1e-300): left out
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def run_splink(path):
    import logging

    import duckdb
    from splink import DuckDBAPI, Linker, block_on

    start = time.perf_counter()
    frame = normalised_frame(path)
    normalised = time.perf_counter() - start
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")  # no progress bars in the log
    db_api = DuckDBAPI(connection)
    table = db_api.register(frame)
    linker = Linker(table, splink_settings(frame), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("mobile"), block_on("email"), block_on("id_number")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=SPLINK_U_SAMPLE, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("mobile"))
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=SPLINK_THRESHOLD).as_pandas_dataframe()
    groups = clusters.groupby("cluster_id")["unique_id"].apply(list)
    groups = [members for members in groups if len(members) > 1]
    return groups, time.perf_counter() - start, {"normalise_s": normalised}


def _child(tool, path, queue):
    runner = {"dedup.scan": run_ours, "Splink (DuckDB)": run_splink}[tool]
    used = time.process_time()
    try:
        groups, seconds, extra = runner(path)
        cpu = time.process_time() - used  # this process's CPU; DuckDB's own threads included
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
               "peak_mb": _peak_mb(), "missed": missed, "wrong": wrong, "cpu_s": cpu, **extra})


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
             "| tool | time s (wall; CPU) | ÷ dedup.scan | recall | precision | groups | pairs found | peak MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    ours = rows[0]["seconds"]
    for row in rows:
        note = f" (normalising {row['normalise_s']:.1f} s of it)" if "normalise_s" in row else ""
        note += f"; CPU {row['cpu_s']:.1f} s" if "cpu_s" in row else ""
        lines.append(f"| {row['tool']} | {row['seconds']:.1f}{note} | {row['seconds'] / ours:.2f} "
                     f"| {row['recall']:.4f} | {row['precision']:.4f} | {row['groups']:,} | {row['pairs']:,} "
                     f"| {row['peak_mb']:,.0f} |")
    lines.append("")
    for row in rows:
        if row.get("phases"):
            lines.append(f"- {row['tool']} by phase: " + ", ".join(f"{phase} {seconds:.1f} s"
                                                                 for phase, seconds in row["phases"].items()) + ".")
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
