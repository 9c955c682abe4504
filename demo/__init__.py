"""Realistic demo data (placeholder until the generator lands)."""
import datetime

from models import Role, User, db

# (username, role, manager username, display name)
DEMO_USERS = [
    ("admin", "admin", None, "系统管理员"),
    ("manager", "manager", None, "王经理"),
    ("sales1", "sales", "manager", "李销售"),
    ("sales2", "sales", "manager", "张销售"),
    ("manager2", "manager", None, "赵经理"),
    ("sales3", "sales", "manager2", "陈销售"),
    ("service", "service", None, "刘客服"),
]
DEMO_USERS_SUMMARY = [(u, f"{role} {name}") for u, role, _, name in DEMO_USERS]


def create_users(password):
    users = {}
    with db.atomic():
        for username, role, manager, name in DEMO_USERS:
            user = User.get_or_none(User.username == username) or User(username=username)
            user.display_name = name
            user.role = Role.get(Role.name == role)
            user.manager = users.get(manager)
            user.active = True
            user.must_change_password = False  # demo users are not asked to change it
            user.set_password(password)
            user.created_at = datetime.datetime.now()
            user.save()
            users[username] = user
    return users


def generate(customers=2000, seed=7, password="demo-password", progress=False):
    return create_users(password)
