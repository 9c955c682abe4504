"""Configuration from environment variables, with safe defaults for the demo.

CRM_ENV=production (the default) refuses to start without SECRET_KEY and FIELD_KEY;
CRM_ENV=demo or development generates both once and keeps them under instance/.

A package of its own, below everything else, so the web app, the worker, the CLI and a
report kernel all read the same settings, and only the web app pays for importing Flask:
never import Flask (or web/, admin/, auth/) here.
"""
import base64
import os
import secrets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout: settings/ is one level down
INSTANCE = os.path.join(ROOT, "instance")


# Where the demo's local mailbox (`run.py mailbox`, delivery.sink) listens, and so where the demo mails.
MAILBOX_HOST = "127.0.0.1"
MAILBOX_PORT = 8025

# Largest file the importer (intake/) accepts, in bytes; env IMPORT_MAX_BYTES.
DEFAULT_IMPORT_MAX_BYTES = 200 * 1024 * 1024


def import_max_bytes(env=None):
    """The import size limit: IMPORT_MAX_BYTES from the environment, else 200 MB."""
    value = (os.environ if env is None else env).get("IMPORT_MAX_BYTES")
    try:
        return int(value) if value else DEFAULT_IMPORT_MAX_BYTES
    except ValueError:
        raise ConfigError(f"IMPORT_MAX_BYTES must be a number of bytes, got {value!r}") from None


class ConfigError(RuntimeError):
    pass


def _whole_number(env, name, default, least=1):
    """A whole number of at least `least` from `env` (`default` when unset); ConfigError otherwise."""
    value = (env.get(name) or "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
    if number < least:
        raise ConfigError(f"{name} must be at least {least}, got {number}")
    return number


def _instance_secret(name, make):
    """Read or create a per-installation secret file under instance/ (demo and development only)."""
    os.makedirs(INSTANCE, exist_ok=True)
    path = os.path.join(INSTANCE, name)
    if not os.path.exists(path):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(make())
    with open(path) as handle:
        return handle.read().strip()


def default_database_url():
    return "sqlite:///" + os.path.join(INSTANCE, "crm.db")


def load(overrides=None, env=None):
    """The configuration from `env` (default os.environ) and `overrides`; raises ConfigError."""
    env = os.environ if env is None else env
    config = {
        "CRM_ENV": env.get("CRM_ENV", "production"),
        "DATABASE_URL": env.get("DATABASE_URL") or default_database_url(),
        "SECRET_KEY": env.get("SECRET_KEY"),
        "FIELD_KEY": env.get("FIELD_KEY"),  # base64 master key for encrypted columns
        # During a key rotation (run.py rotate-key): the previous key(s), comma separated; they only open values.
        "FIELD_KEY_OLD": env.get("FIELD_KEY_OLD") or None,
        "DEFAULT_LANGUAGE": env.get("DEFAULT_LANGUAGE", "zh"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "0") == "1",
        # Flask-Login's remember-me cookie, with the same flags as the session's.
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "0") == "1",
        # Login hardening (auth/, credentials/; docs/security.md): a request after SESSION_IDLE_MINUTES
        # without one logs out; LOGIN_MAX_FAILURES failed logins within LOGIN_LOCK_MINUTES lock the
        # account name and the client address for that long.
        "SESSION_IDLE_MINUTES": _whole_number(env, "SESSION_IDLE_MINUTES", 30),
        "LOGIN_MAX_FAILURES": _whole_number(env, "LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCK_MINUTES": _whole_number(env, "LOGIN_LOCK_MINUTES", 15),
        # A request may carry an import file up to IMPORT_MAX_BYTES (plus the form around it);
        # anything larger gets the 413 page before it is read.
        "MAX_CONTENT_LENGTH": max(32 * 1024 * 1024, import_max_bytes(env) + 1024 * 1024),
        "IMPORT_MAX_BYTES": import_max_bytes(env),
        # How long a write waits for another's lock before the user is told 系统繁忙，请稍后重试 (models.contention).
        "DATABASE_BUSY_SECONDS": _whole_number(env, "DATABASE_BUSY_SECONDS", 30),
        # Reverse proxies in front of run.py serve whose X-Forwarded-For / -Proto are believed (web.security).
        "TRUSTED_PROXY_HOPS": _whole_number(env, "TRUSTED_PROXY_HOPS", 0, least=0),
        # The REST API (api/): requests one token may make per minute before it is answered 429 (counted in the
        # database, so every server process counts together).
        "API_RATE_PER_MINUTE": _whole_number(env, "API_RATE_PER_MINUTE", 120),
    }
    config.update(overrides or {})
    relaxed = config["CRM_ENV"] in ("demo", "development", "testing")
    if not config["SECRET_KEY"]:
        if not relaxed:
            raise ConfigError("SECRET_KEY is not set. Set SECRET_KEY (and FIELD_KEY) for production, "
                              "or CRM_ENV=demo to generate them for a demo.")
        config["SECRET_KEY"] = _instance_secret("secret_key", lambda: secrets.token_hex(32))
    if not config["FIELD_KEY"]:
        if not relaxed:
            raise ConfigError("FIELD_KEY is not set: it encrypts ID numbers and bank cards at rest. "
                              "Generate one with: python -c \"import os,base64;print(base64.b64encode(os.urandom(32)).decode())\"")
        config["FIELD_KEY"] = _instance_secret("field_key", lambda: base64.b64encode(os.urandom(32)).decode())
    if config["CRM_ENV"] == "demo":
        demo_mail_defaults(env)
    return config


def demo_mail_defaults(env):
    """The demo mails to the local mailbox (`run.py mailbox`) unless SMTP_HOST names a real server.

    Written into the environment, not only the config: delivery.from_env() reads SMTP_* from
    os.environ in every process that sends (the worker and its tasks)."""
    if (env.get("SMTP_HOST") or "").strip():
        return
    env["SMTP_HOST"] = MAILBOX_HOST
    if not (env.get("SMTP_PORT") or "").strip():
        env["SMTP_PORT"] = str(MAILBOX_PORT)


def field_key_bytes(config):
    try:
        return base64.b64decode(config["FIELD_KEY"], validate=True)
    except ValueError as error:
        raise ConfigError("FIELD_KEY must be base64 (32 random bytes)") from error


def field_keys(config):
    """(FIELD_KEY's bytes, [FIELD_KEY_OLD's bytes, ...]): the key that seals and the ones that only open
    values during a key rotation (docs/operations.md, Key rotation)."""
    old = []
    for text in (config.get("FIELD_KEY_OLD") or "").split(","):
        if text.strip():
            try:
                old.append(base64.b64decode(text.strip(), validate=True))
            except ValueError as error:
                raise ConfigError("FIELD_KEY_OLD must be base64 (comma separated for several keys)") from error
    return field_key_bytes(config), old
