"""Open the database for a notebook or job exactly as the web app does, without starting Flask.

The settings come from the `settings` package (DATABASE_URL, default instance/crm.db; FIELD_KEY),
as the app's do, so a notebook reads the same data the app shows.  Neither imports Flask.
"""
import datetime
import os

import models
import settings
from models import Customer, sealed


def connect():
    """Bind the models from the environment like the app and return the database."""
    # Notebooks sign no sessions, so they do not need SECRET_KEY; a placeholder keeps
    # settings from refusing to load (production) or writing instance/secret_key (demo).
    overrides = {"SECRET_KEY": os.environ.get("SECRET_KEY") or "unused-by-notebooks"}
    # Demo mode keeps its generated FIELD_KEY in instance/field_key; read it even when CRM_ENV
    # is unset in the kernel, so a notebook opened next to a demo install still works.
    key_file = os.path.join(settings.INSTANCE, "field_key")
    if not os.environ.get("FIELD_KEY") and os.path.exists(key_file):
        with open(key_file) as handle:
            overrides["FIELD_KEY"] = handle.read().strip()
    config = settings.load(overrides)
    # Notebooks never show encrypted columns, but a model instance read whole would unseal them.
    sealed.configure(*settings.field_keys(config))
    return models.bind(config["DATABASE_URL"])


def snapshot(wait=True):
    """Read the tables the analyses need once, for the rest of this kernel (a report run):
    on a SQLite file they are copied into DuckDB's memory (analytics.engines.take_snapshot),
    on PostgreSQL nothing is needed.  Run it again to see later changes.

    wait=False starts the copy in the background and returns; the first query waits for it.
    Notebooks start it right after connect() so that it runs while they import their libraries.
    """
    from . import engines

    return engines.take_snapshot(wait=wait)


def parse_date(text, default):
    """An ISO date parameter: '' or None -> default, else datetime.date."""
    if text is None or str(text).strip() == "":
        return default
    if isinstance(text, datetime.date):
        return text
    return datetime.date.fromisoformat(str(text).strip())


def filters(owner_ids=None, regions=None, industries=None, tag=None):
    """Notebook parameters -> keyword filters of analytics.queries.

    The queries themselves read empty regions/industries/tag as "no filter" and an empty
    owner_ids as an empty scope, so every caller gets the same rule.
    """
    return {"owner_ids": owner_ids, "regions": regions, "industries": industries, "tag": tag}


def customer_labels(ids, column_access=None):
    """Customer code and name for `ids` (index customer_id); only these two columns are read,
    so lists in reports can never carry mobile, ID number or bank card.

    `column_access` is the run's column rules for these columns (the runner's column_access
    parameter): a "masked" column is masked as on the admin screens, a "hidden" one left out.
    """
    import pandas as pd

    from access.masking import mask

    ids = [int(i) for i in ids]
    rows = []
    for offset in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = ids[offset:offset + 500]
        rows += list(Customer.select(Customer.id, Customer.code, Customer.name)
                     .where(Customer.id.in_(chunk)).tuples())
    frame = pd.DataFrame(rows, columns=["customer_id", "code", "name"]).set_index("customer_id")
    for column, level in (column_access or {}).items():
        if level == "hidden":
            frame = frame.drop(columns=column)
        elif level == "masked":
            frame[column] = frame[column].map(mask)
    return frame.reindex(ids)
