"""Creating a usable database: tables, indexes, default lists and the default policy."""


def init_db():
    """Idempotent: safe to run on every deploy."""
    import access.defaults
    import models
    import models.starter
    import reportbuilder.templates

    models.create_tables()
    models.starter.seed_choices()
    access.defaults.seed_policy()
    reportbuilder.templates.seed()  # the builder's quick reports, as data
