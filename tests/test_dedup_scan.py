"""The duplicate scan (dedup.scan) and the check of one record (dedup.probable_duplicates):
exact kinds, probable kinds, the traps that must not group, and row scope."""
import datetime

import pytest

import dedup
from dedup import normalise


def groups_of(**kwargs):
    """{frozenset(codes): group} of a scan."""
    return {frozenset(g.codes): g for g in dedup.scan(**kwargs)}


def together(found, *customers):
    """The group holding exactly these customers, or None."""
    return found.get(frozenset(c.code for c in customers))


def grouped(found, customer):
    return any(customer.code in codes for codes in found)


# --- normalisation -----------------------------------------------------------------------
@pytest.mark.parametrize("name, core", [
    ("深圳華為技術有限公司", "华为技术"),
    ("深圳华为技术有限公司", "华为技术"),
    ("北京市百度网讯科技有限公司", "百度网讯科技"),
    ("百度网讯科技", "百度网讯科技"),
    ("百度在线网络技术（北京）有限公司", "百度在线网络技术"),
    ("广东省深圳市腾讯计算机系统有限公司", "腾讯计算机系统"),
    ("内蒙古自治区伊利实业集团股份有限公司", "伊利实业"),
    ("Huawei Technologies Co., Ltd.", "huaweitechnologies"),
])
def test_company_names_fold_to_one_core(name, core):
    assert normalise.company_name(name)[0] == core


def test_nothing_distinctive_is_no_name_key():
    assert normalise.company_name("有限公司") is None
    assert normalise.company_name("集团公司") is None


def test_free_mail_domains_are_no_evidence():
    assert normalise.email_domain("Li@QQ.com") is None
    assert normalise.email_domain("wang@163.com") is None
    assert normalise.email_domain("a@gmail.com") is None
    assert normalise.email_domain("Li@HuaWei.com") == "huawei.com"


# --- exact kinds -----------------------------------------------------------------------------
def test_same_mobile_email_and_id_number_are_exact(app, make_customer):
    a = make_customer(name="甲方科技有限公司", mobile="13800000001")
    b = make_customer(name="完全不同的商贸公司", mobile="13800000001")
    c = make_customer(name="丙丙丙实业有限公司", mobile="13800000003", email="Boss@Example.com")
    d = make_customer(name="丁丁丁实业有限公司", mobile="13800000004", email="boss@example.com")
    e = make_customer(name="张三", customer_type="个人", mobile="13800000005", id_number="110101199003071234")
    f = make_customer(name="张三丰", customer_type="个人", mobile="13800000006", id_number="110101199003071234")
    found = groups_of()
    assert together(found, a, b).reason == "手机号码相同" and together(found, a, b).score == 0.97
    assert together(found, c, d).reason == "邮箱相同" and together(found, c, d).score == 0.95
    assert together(found, e, f).reason == "身份证号相同" and together(found, e, f).score == 1.0


def test_scan_never_decrypts_id_numbers(app, make_customer, monkeypatch):
    make_customer(name="李四", customer_type="个人", mobile="13800000011", id_number="110101199003071111")
    make_customer(name="李四", customer_type="个人", mobile="13800000012", id_number="110101199003071111")
    from models import sealed

    def refuse(token):
        raise AssertionError("the scan decrypted an id number")

    monkeypatch.setattr(sealed, "unseal", refuse)
    assert [g.reason for g in dedup.scan()] == ["身份证号相同"]


def test_a_chain_of_exact_links_is_one_group(app, make_customer):
    a = make_customer(name="链条一号有限公司", mobile="13800000021")
    b = make_customer(name="链条二号有限公司", mobile="13800000021", email="x@chain.cn")
    c = make_customer(name="链条三号有限公司", mobile="13800000023", email="x@chain.cn")
    group = together(groups_of(), a, b, c)
    assert group is not None and group.reason == "手机号码相同；邮箱相同" and group.score == 0.95


# --- probable kinds --------------------------------------------------------------------------
def test_traditional_and_simplified_names_are_one_company(app, make_customer):
    a = make_customer(name="深圳華為技術有限公司", mobile="13800000031")
    b = make_customer(name="深圳华为技术有限公司", mobile="13800000032")
    group = together(groups_of(), a, b)
    assert group.reason == "公司名称相同（繁简/后缀/城市归一后）" and group.score == 0.9


def test_suffix_and_city_variants_are_one_company(app, make_customer):
    a = make_customer(name="北京市百度网讯科技有限公司", mobile="13800000041")
    b = make_customer(name="百度网讯科技", mobile="13800000042")
    c = make_customer(name="百度网讯科技股份有限公司（北京）", mobile="13800000043")
    assert together(groups_of(), a, b, c).reason == "公司名称相同（繁简/后缀/城市归一后）"


def test_same_trade_name_in_two_cities_is_two_companies(app, make_customer):
    a = make_customer(name="杭州瑞达网络科技有限公司", mobile="13800000051")
    b = make_customer(name="北京瑞达网络科技有限公司", mobile="13800000052")
    assert not groups_of()
    assert a and b


def test_similar_names_with_a_shared_contact_group(app, make_customer):
    a = make_customer(name="杭州瑞达网络科技有限公司", mobile="13800000061", contact="李娜")
    b = make_customer(name="杭州瑞达网路科技有限公司", mobile="13800000062", contact="李娜")
    group = together(groups_of(), a, b)
    assert group.reason == "名称相似且联系人相同" and 0.7 <= group.score <= 0.85


def test_similar_names_by_sound_with_a_shared_address_group(app, make_customer):
    a = make_customer(name="华为技术有限公司", mobile="13800000071", address="深圳市龙岗区坂田华为基地")
    b = make_customer(name="华伟技术有限公司", mobile="13800000072", address="深圳市龙岗区 坂田华为基地")
    assert together(groups_of(), a, b).reason == "名称相似且地址相同"


def test_similar_names_without_shared_evidence_do_not_group(app, make_customer):
    make_customer(name="杭州瑞达网络科技有限公司", mobile="13800000081", contact="李娜")
    make_customer(name="杭州瑞达网路科技有限公司", mobile="13800000082", contact="王芳")
    assert not groups_of()


def test_company_domain_is_evidence_free_mail_is_not(app, make_customer):
    a = make_customer(name="宁波海天塑机有限公司", mobile="13800000091", email="sales@haitian.com")
    b = make_customer(name="宁波海天塑料机械有限公司", mobile="13800000092", email="service@haitian.com")
    c = make_customer(name="苏州明珠电子有限公司", mobile="13800000093", email="mz1@qq.com")
    d = make_customer(name="苏州明珠电器有限公司", mobile="13800000094", email="mz2@qq.com")
    found = groups_of()
    assert together(found, a, b).reason == "名称相似且邮箱域名相同"
    assert not grouped(found, c) and not grouped(found, d)


def test_two_people_called_wang_wei_are_two_customers(app, make_customer):
    make_customer(name="王伟", customer_type="个人", contact="王伟", mobile="13800000101", email="wangwei@163.com")
    make_customer(name="王伟", customer_type="个人", contact="王伟", mobile="13800000102", email="wangwei@126.com")
    make_customer(name="王 伟", customer_type="个人", contact="王伟", mobile="13800000103")
    assert not groups_of()


def test_people_with_one_name_at_one_address_group(app, make_customer):
    a = make_customer(name="王伟", customer_type="个人", mobile="13800000111", address="上海市徐汇区漕溪北路88号")
    b = make_customer(name="王伟", customer_type="个人", mobile="13800000112", address="上海市徐汇区漕溪北路88号")
    assert together(groups_of(), a, b).reason == "名称相同且地址相同"


def test_min_score_leaves_out_weaker_links(app, make_customer):
    make_customer(name="杭州瑞达网络科技有限公司", mobile="13800000121", contact="李娜")
    make_customer(name="杭州瑞达网路科技有限公司", mobile="13800000122", contact="李娜")
    make_customer(name="某某甲有限公司", mobile="13800000123")
    make_customer(name="某某乙有限公司", mobile="13800000123")
    assert [g.reason for g in dedup.scan(min_score=0.9)] == ["手机号码相同"]


# --- row scope ---------------------------------------------------------------------------------
def test_scan_sees_only_the_owners_given(app, make_customer, users):
    a = make_customer(owner="sales1", name="范围甲有限公司", mobile="13800000131")
    b = make_customer(owner="sales1", name="范围乙有限公司", mobile="13800000131")
    make_customer(owner="sales2", name="范围丙有限公司", mobile="13800000131")
    c = make_customer(owner="sales2", name="范围丁有限公司", mobile="13800000134")
    make_customer(owner="sales3", name="范围戊有限公司", mobile="13800000134")
    mine = dedup.scan(owner_ids=[users["sales1"].id])
    assert [set(g.codes) for g in mine] == [{a.code, b.code}]
    assert sorted(len(codes) for codes in groups_of()) == [2, 3]  # everyone's: the three mobiles, and c's pair
    assert not any(c.code in g.codes for g in mine)
    assert dedup.scan(owner_ids=[]) == []


# --- one record before it is written ------------------------------------------------------------
def test_probable_duplicates_of_one_new_record(app, make_customer):
    huawei = make_customer(name="深圳華為技術有限公司", mobile="13800000141")
    phone = make_customer(name="无关公司甲", mobile="13800000142")
    mail = make_customer(name="无关公司乙", mobile="13800000143", email="boss@corp.cn")
    person = make_customer(name="赵六", customer_type="个人", mobile="13800000144", id_number="11010119900307555X")
    make_customer(name="王伟", customer_type="个人", mobile="13800000145")

    matches = dedup.probable_duplicates({"name": "深圳华为技术有限公司", "mobile": "138 0000 0142"})
    assert [(m.code, m.reason) for m in matches] == [(phone.code, "手机号码相同"),
                                                      (huawei.code, "公司名称相同（繁简/后缀/城市归一后）")]
    assert [m.code for m in dedup.probable_duplicates({"name": "新公司", "email": "BOSS@corp.cn"})] == [mail.code]
    assert [m.code for m in dedup.probable_duplicates({"name": "赵小六", "customer_type": "个人",
                                                       "id_number": "11010119900307555x"})] == [person.code]
    assert dedup.probable_duplicates({"name": "王伟", "customer_type": "个人", "mobile": "13900000000"}) == []
    assert dedup.probable_duplicates({"name": "深圳华为技术有限公司"}, exclude_id=huawei.id) == []


def test_probable_duplicates_respects_scope(app, make_customer, users):
    make_customer(owner="sales2", name="别人的客户有限公司", mobile="13800000151")
    assert dedup.probable_duplicates({"name": "新客户", "mobile": "13800000151"},
                                     owner_ids=[users["sales1"].id]) == []
    assert len(dedup.probable_duplicates({"name": "新客户", "mobile": "13800000151"})) == 1


def test_scan_handles_customers_without_keys(app, make_customer):
    make_customer(name="甲", mobile=None, phone="010-62345678", first_contact=datetime.date(2024, 1, 2))
    make_customer(name="乙", mobile=None, phone="010-62345679")
    assert dedup.scan() == []


# --- the scan's column-wise keys and set-based blocks -------------------------------------------
AWKWARD = [  # (name, customer_type, contact, mobile, phone, email, address, id_number_digest)
    ("北京市", "企业", "張偉", "138 1234 5678", "（010）6234-5678", "Ａ@ＣＯＲＰ.ＣＮ", "臺北市信義區 忠孝東路５號", None),
    ("北京有限公司", "企业", " ", "+86 13812345678", "0086 10 62345678", "li@qq.com", "   ", ""),
    ("广东省深圳市腾讯计算机系统有限公司", "企业", "马化腾", "１３８１２３４５６７８", None, "pony@tencent.com", None, None),
    ("内蒙古自治区伊利实业集团股份有限公司", "企业", "潘刚", "13812345678", "", "", "呼和浩特市金川开发区", "abc"),
    ("深圳華為技術有限公司", "企业", "任正非", "1381234567", "0755-28780808", None, "深圳市龙岗区坂田華為基地", None),
    ("Huawei Technologies Co., Ltd.", "企业", "Ｗａｎｇ Wei", "138-1234-5678", "123", "x@Huawei.COM", "short", None),
    ("百度在线网络技术（北京）有限公司", "企业", "李彦宏", None, None, None, None, None),
    ("（深圳）", "企业", None, None, None, None, None, None),
    ("ΑΣ Trading", "企业", "ΟΔΥΣΣΕΥΣ", None, None, None, None, None),
    ("王 伟", "个人", "王伟", "13800000001", None, "wangwei@163.com", "上海市徐汇区漕溪北路88号", "d1"),
    ("張三", "个人", "張三", None, None, None, "臺北市 大安區", None),
    ("a\x1fb", "个人", "c\x1fd", None, None, "e\x1f@f.cn", "g\x1fhhhhhh", None),
    ("", "企业", "", " ", "", "", "", ""),
    (None, None, None, None, None, None, None, None),
]


def test_column_keys_equal_the_keys_of_each_record():
    from dedup import profile as rules

    assert rules.profile_columns(*zip(*AWKWARD)) == [rules.profile(*row) for row in AWKWARD]
    assert rules.profile_columns(*[[]] * 8) == []
    # a value that is not text takes the one-by-one path, with the same result
    rows = AWKWARD + [(12345, "个人", 678, None, 10086, None, None, None)]
    assert rules.profile_columns(*zip(*rows)) == [rules.profile(*map(lambda v: v if v is None else str(v), row))
                                                  for row in rows]


def test_names_compared_as_arrays_equal_one_pair_at_a_time():
    import numpy as np

    from dedup import profile as rules

    names = ["华为技术", "化为技术", "华伟技术", "化伟技术", "华为", "瑞达网络科技", "瑞达网路科技", "锐达网络科技", "完全不同",
             "百度网讯科技", "百度网讯", "ab", "huaweitechnologies", "huaweitechnology"]
    first, second = np.array([(i, j) for i in range(len(names)) for j in range(len(names)) if i != j]).T
    found = rules.similarities(np.array(names, dtype=object), first, second)
    expected = [rules.similarity(names[i], names[j]) for i, j in zip(first, second)]
    assert [None if np.isnan(x) else x for x in found.tolist()] == expected
    assert rules.similarity("华为技术", "化伟技术") == 0.95  # two characters of four differ: alike by sound only


def test_blocks_as_arrays():
    import numpy as np

    from dedup.scan import _blocks, _chains, _codes, _pairs

    keys = ["a", None, "b", "a", "c", "a", "b", None]
    codes = _codes(keys)
    assert sorted(zip(*(side.tolist() for side in _chains(codes)))) == [(0, 3), (0, 5), (2, 6)]
    assert _blocks(codes) == [[0, 3, 5], [2, 6]]
    assert sorted(zip(*(side.tolist() for side in _pairs(codes, 3)))) == [(0, 3), (0, 5), (2, 6), (3, 5)]
    assert sorted(zip(*(side.tolist() for side in _pairs(codes, 2)))) == [(2, 6)]  # a block of 3 is too big
    assert [len(side) for side in _pairs(_codes([None, None]), 100)] == [0, 0]
    assert _blocks(_codes([])) == [] and [len(side) for side in _chains(np.array([], dtype=np.int64))] == [0, 0]


def test_evidence_pairs_split_by_type_and_place_equal_every_pair_checked():
    """The blocks split by customer type and place give the pairs a check of every pair in a block gives:
    one type, places agreeing (one names none, or they share one), each pair once with all its kinds."""
    import itertools

    import numpy as np

    from dedup import profile as rules
    from dedup.scan import KIND_BITS, MAX_EVIDENCE, _evidence_pairs, _Places

    places = [frozenset(), frozenset({"北京"}), frozenset({"上海"}), frozenset({"北京", "上海"}), frozenset({"深圳"}),
              frozenset(), frozenset({"北京"}), frozenset({"深圳", "北京"}), frozenset(), frozenset({"上海"}),
              frozenset({"北京"}), frozenset()]
    companies = np.array([True, True, True, True, True, False, True, True, True, True, False, False])
    evidence = {"contact": ["张三", "张三", "张三", "张三", "张三", "张三", None, "张三", "李四", "李四", "张三", "李四"],
                "address": [None, "a1", "a1", "a1", None, None, "a1", "a1", None, None, None, None],
                "phone": [None] * 12,
                "domain": ["x.com", "x.com", None, "x.com", "x.com", None, "x.com", None, "x.com", None, None, None]}
    expected = {}
    for kind, keys in evidence.items():
        for i, j in itertools.combinations(range(len(keys)), 2):
            if (keys[i] and keys[i] == keys[j] and companies[i] == companies[j]
                    and rules.places_agree(places[i], places[j])):
                expected[(i, j)] = expected.get((i, j), 0) | KIND_BITS[kind]
    first, second, kinds = _evidence_pairs(evidence, companies, _Places(places))
    found = {(i, j): bits for i, j, bits in zip(first.tolist(), second.tolist(), kinds.tolist())}
    assert found == expected and len(found) == len(first)
    assert (1, 3) in found and (1, 2) not in found and (0, 4) in found and (0, 5) not in found
    assert MAX_EVIDENCE >= 12
    empty = _evidence_pairs({kind: [None] * 3 for kind in evidence}, companies[:3], _Places([frozenset()] * 3))
    assert [len(side) for side in empty] == [0, 0, 0]


def test_name_blocks_split_by_place_as_arrays_equal_the_clusters_of_each_block():
    """Equal company cores split by place as arrays give the companies the clusters of one block at a time
    give: one place, one company; rows naming none join a block naming one place, else stay apart; a row
    naming two places joins both."""
    from dedup import profile as rules
    from dedup.scan import _codes, _Links, _name_blocks, _Places

    rows = [("瑞达", {"杭州"}), ("瑞达", {"北京"}), ("瑞达", {"杭州"}), ("瑞达", set()), ("瑞达", set()),  # two cities
            ("华为", {"深圳"}), ("华为", set()), ("华为", {"深圳"}),  # one city: the bare row joins
            ("百度", set()), ("百度", set()),  # no city at all
            ("腾讯", {"深圳"}), ("腾讯", {"北京", "深圳"}), ("腾讯", {"北京"}), ("腾讯", {"上海"}), ("腾讯", set()),
            ("唯一", {"上海"}), (None, set()), (None, {"北京"})]
    cores = [core for core, _ in rows]
    places = [frozenset(where) for _, where in rows]

    def clusters(members):  # the row-at-a-time rule
        found, bare = [], []
        for index in members:
            if not places[index]:
                bare.append(index)
                continue
            for cluster in found:
                if cluster[0] & places[index]:
                    cluster[0] |= places[index]
                    cluster[1].append(index)
                    break
            else:
                found.append([set(places[index]), [index]])
        if len(found) == 1:
            found[0][1].extend(bare)
        elif bare:
            found.append([set(), bare])
        return [sorted(together) for _, together in found if len(together) > 1]

    expected = sorted(together for core in dict.fromkeys(c for c in cores if c)
                      for together in clusters([i for i, c in enumerate(cores) if c == core]))
    links = _Links(0.0)
    _name_blocks(_codes(cores), places, _Places(places), links)
    found = sorted(members for members, score, reasons in links.groups())
    assert found == expected
    assert [0, 2] in found and [3, 4] in found and [5, 6, 7] in found and [8, 9] in found and [10, 11, 12] in found
    assert all(score == rules.NAME_SCORE for _, score, _ in links.groups())
