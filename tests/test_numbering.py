"""Generated customer codes and follow-up numbers stay unique when people save at the same time."""
import datetime
import threading

import models
from models import Customer, FollowUp


def run_in_threads(app, work, threads=4, each=8):
    errors = []

    def worker(index):
        try:
            with app.app_context():
                models.db.connect(reuse_if_open=True)
                for n in range(each):
                    work(index, n)
                models.db.close()
        except Exception as error:  # collected and asserted below
            errors.append(error)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return errors


def test_concurrent_customers_get_distinct_codes(app, users):
    owner = users["sales1"].id

    def create(index, n):
        Customer.create(name=f"并发客户{index}-{n}", mobile=f"138{index:02d}{n:06d}", region="华北", industry="互联网",
                        first_contact=datetime.date(2025, 5, 1), owner=owner)

    assert run_in_threads(app, create) == []
    codes = [c.code for c in Customer.select(Customer.code)]
    assert len(codes) == 32 == len(set(codes))
    assert sorted(codes) == [f"HB-IT-2025-{i:03d}" for i in range(1, 33)]


def test_concurrent_follow_ups_get_distinct_record_numbers(app, make_customer, users):
    customer = make_customer()
    day = datetime.datetime(2025, 3, 20, 10, 0)

    def create(index, n):
        FollowUp.create(customer=customer.id, at=day, method="电话", content=f"{index}-{n}", user=users["sales1"].id)

    assert run_in_threads(app, create) == []
    numbers = sorted(f.record_no for f in FollowUp.select(FollowUp.record_no))
    assert numbers == [f"20250320{i:03d}" for i in range(1, 33)]


def test_other_integrity_errors_are_not_retried(make_customer):
    make_customer(code="HB-IT-2024-001")
    try:
        Customer.create(code="HB-IT-2024-001", name="重复编号", mobile="13900000000")
    except models.base.IntegrityError:
        pass
    else:
        raise AssertionError("a duplicate manual code must fail")
    assert Customer.select().where(Customer.name == "重复编号").count() == 0
