"""Analysis of customers and their orders for the notebooks (RFM, cohorts, CLV).

Every SQL statement lives in `analytics.queries`, which groups in the database and hands pandas
one row per customer (or per cohort and month); the other modules are plain pandas on those
results, so they are tested with small hand-computed examples. Submodules are imported by name
(``from analytics import rfm``): this package imports nothing, so loading it stays cheap and a new
submodule needs no change here.
"""
