"""The password policy: one function, `password_problems`, answers in Chinese what is wrong with a password.

Every place a password is set asks it (the change-password form, the user screen's 新密码,
`run.py create-user --password`, the user import's generated passwords), and `generate_password`
makes initial passwords that pass it.
"""
import functools
import gzip
import os
import secrets
import string

MIN_LENGTH = 10
MAX_LENGTH = 128  # werkzeug hashes anything, but a megabyte "password" only costs CPU
COMMON_FILE = os.path.join(os.path.dirname(__file__), "data", "common-passwords.txt.gz")

# Character classes; a password must mix at least two of them (other = symbols, spaces, Chinese...).
CLASSES = {
    "lower": set(string.ascii_lowercase),
    "upper": set(string.ascii_uppercase),
    "digit": set(string.digits),
}


@functools.lru_cache(maxsize=1)
def common_passwords():
    """The vendored list of 20,000 common passwords (lower-cased), read once per process."""
    with gzip.open(COMMON_FILE, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


def _classes(password):
    found = set()
    for char in password:
        for name, members in CLASSES.items():
            if char in members:
                found.add(name)
                break
        else:
            found.add("other")
    return found


def password_problems(password, username=None):
    """What is wrong with `password` for the account `username`, as Chinese sentences; [] when it is fine."""
    password = password or ""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"密码至少 {MIN_LENGTH} 位")
    if len(password) > MAX_LENGTH:
        problems.append(f"密码最多 {MAX_LENGTH} 位")
    name = (username or "").strip().lower()
    if len(name) >= 3 and name in password.lower():
        problems.append("密码不能包含用户名")
    if password and password.strip().lower() in common_passwords():
        problems.append("密码太常见，容易被猜中，请换一个")
    if password and len(_classes(password)) < 2:
        problems.append("密码不能只由一类字符组成，请混合字母、数字或符号")
    return problems


ALPHABET = string.ascii_letters + string.digits


def generate_password(length=14, username=None):
    """A random initial password that passes the policy (letters and digits, so it can be read out)."""
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if not password_problems(candidate, username):
            return candidate
