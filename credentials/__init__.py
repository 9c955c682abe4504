"""Credentials: the password policy, the login lockout and two-step login codes (TOTP).

Never imports Flask: the login screens (auth/), the user admin screen, `run.py create-user` and the
user import (intake/) all ask this package, so the same rules hold everywhere a password is set and
everywhere a login is attempted. See docs/security.md.
"""
from .passwords import MIN_LENGTH, generate_password, password_problems

__all__ = ["MIN_LENGTH", "generate_password", "password_problems"]
