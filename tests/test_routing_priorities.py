"""Listener-rule priorities and shadowing (paas/domain/routing.py), on plain data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paas.domain import routing as r
from paas.domain.errors import Conflict, UserError
from paas.domain.routing import Routing, Rule

CATCH_ALL = Routing(("/*",))
API = Routing(("/api/*",))
API_V2 = Routing(("/api/v2/*",))
SHOP_HOST = Routing(("/*",), "shop.example.com")
SHOP_CART = Routing(("/cart/*",), "shop.example.com")


def test_specificity_orders_host_and_path_then_host_then_path_then_catch_all():
    ranked = sorted([CATCH_ALL, API, SHOP_HOST, SHOP_CART, API_V2], key=lambda x: (r.specificity(x)[0],
                                                                                  -r.specificity(x)[1]))
    assert ranked == [SHOP_CART, SHOP_HOST, API_V2, API, CATCH_ALL]
    prefs = [r.preferred_priority(r.specificity(x)) for x in ranked]
    assert prefs == sorted(prefs) and len(set(prefs)) == 5 and 1 <= prefs[0] and prefs[-1] <= 50_000


def test_an_empty_listener_gives_the_preferred_position():
    spec = r.specificity(API)
    assert r.allocate_priority(set(), spec) == r.preferred_priority(spec)


def test_a_taken_number_moves_to_the_nearest_free_one():
    spec = r.specificity(API)
    want = r.preferred_priority(spec)
    assert r.allocate_priority({want}, spec) in (want - 1, want + 1)
    assert r.allocate_priority({want, want - 1, want + 1}, spec) in (want - 2, want + 2)


def test_order_follows_the_rules_already_on_the_listener():
    # someone put a catch-all at 10 (below where paas would place a path rule): a new path rule must
    # still come before it, and a host rule before that
    existing = [Rule(10, CATCH_ALL, "legacy/prod/web")]
    p = r.allocate_priority({10}, r.specificity(API), existing, routing=API, owner="shop/prod/api")
    assert p < 10
    existing.append(Rule(p, API, "shop/prod/api"))
    q = r.allocate_priority({10, p}, r.specificity(SHOP_CART), existing, routing=SHOP_CART, owner="shop/prod/cart")
    assert q < p
    # a narrower path than one already placed goes before it; a broader one after
    existing.append(Rule(q, SHOP_CART, "shop/prod/cart"))
    v2 = r.allocate_priority({10, p, q}, r.specificity(API_V2), existing, routing=API_V2, owner="x/prod/v2")
    assert q < v2 < p
    assert r.shadowed_by(Rule(v2, API_V2, "x/prod/v2"), existing) == []


def test_no_room_between_neighbours_is_a_conflict():
    existing = [Rule(5, API_V2, "a/p/w"), Rule(6, API, "b/p/w")]
    narrower = Routing(("/api/v2/x/*",))  # must come before /api/v2/* at 5, and 1-4 are taken
    with pytest.raises(Conflict, match="no free listener-rule priority between 0 and 5"):
        r.allocate_priority({1, 2, 3, 4}, r.specificity(narrower), existing, routing=narrower, owner="c/p/w")
    between = Routing(("/api/v*",))  # after /api/v2/* (5), before /api/* (6): no number left
    with pytest.raises(Conflict, match="renumbering"):
        r.allocate_priority(set(), r.specificity(between), existing, routing=between, owner="c/p/w")


def test_a_second_catch_all_is_refused_but_its_owner_may_move_it():
    existing = [Rule(40000, CATCH_ALL, "shop/prod/web")]
    with pytest.raises(UserError, match="already has a catch-all rule .shop/prod/web"):
        r.allocate_priority({40000}, r.specificity(CATCH_ALL), existing, routing=CATCH_ALL, owner="blog/prod/web")
    assert r.allocate_priority({40000}, r.specificity(CATCH_ALL), existing, routing=CATCH_ALL,
                               owner="shop/prod/web") != 40000


def test_the_same_requests_for_another_owner_are_refused():
    existing = [Rule(100, Routing(("/api/*",), "API.example.com"), "a/p/w")]
    with pytest.raises(UserError, match="already routes these requests to a/p/w"):
        r.allocate_priority({100}, (0, 5), existing, routing=Routing(("/api/*",), "api.example.com"), owner="b/p/w")


def test_shadowing_in_both_directions():
    catch_all_low = Rule(1, CATCH_ALL, "old/prod/web")
    api = Rule(100, API, "shop/prod/api")
    assert [(str(x), x.kind) for x in r.shadowed_by(api, [catch_all_low])] == [
        ("hidden by old/prod/web (priority 1)", "shadowed_by")]
    v2_late = Rule(200, API_V2, "x/prod/v2")
    assert [x.kind for x in r.shadowed_by(api, [v2_late])] == ["shadows"]
    # a host rule is not hidden by a path-only rule of a different path, and vice versa
    assert r.shadowed_by(Rule(5, SHOP_CART), [Rule(1, API)]) == []
    # a host-less rule covers host rules, a host rule never covers host-less ones
    assert r.covers(API, Routing(("/api/x",), "a.example.com")) and not r.covers(SHOP_HOST, API)


@pytest.mark.parametrize("a,b,expected", [
    ("/*", "/anything/at/all", True), ("/api/*", "/api/v2/*", True), ("/api/v2/*", "/api/*", False),
    ("/a?c", "/abc", True), ("/abc", "/a?c", False), ("/a*", "/a?", True), ("/a?", "/a*", False),
    ("/*.png", "/img/*.png", True), ("/img/*.png", "/*.png", False),
])
def test_pattern_cover(a, b, expected):
    assert r.covers(Routing((a,)), Routing((b,))) is expected


def test_hosts_compare_without_case():
    assert r.covers(Routing(("/*",), "*.EXAMPLE.com"), Routing(("/*",), "shop.example.COM"))


paths = st.sampled_from(["/*", "/api/*", "/api/v2/*", "/api/v2/users", "/img/*.png", "/*.png", "/a?c", "/abc",
                         "/static/*", "/static/css/*"])
hosts = st.none() | st.sampled_from(["shop.example.com", "*.example.com", "api.example.com"])
routings = st.builds(lambda ps, h: Routing(tuple(sorted(set(ps))), h), st.lists(paths, min_size=1, max_size=2), hosts)


@settings(max_examples=200)
@given(st.lists(routings, min_size=1, max_size=8), st.sets(st.integers(1, 50_000), max_size=20))
def test_allocating_rule_by_rule_never_hides_one(routes, foreign):
    """Whatever order apps arrive in, each gets a number no other rule hides it behind (or the
    allocation says why not), next to numbers other tools took."""
    placed: list[Rule] = []
    for i, route in enumerate(routes):
        owner = f"app{i}/prod/web"
        try:
            p = r.allocate_priority(foreign, r.specificity(route), placed, routing=route, owner=owner)
        except (UserError, Conflict):
            continue
        assert p not in foreign and p not in {x.priority for x in placed} and 1 <= p <= 50_000
        placed.append(Rule(p, route, owner))
    for rule in placed:
        hidden = [s for s in r.shadowed_by(rule, placed) if s.kind == "shadowed_by"]
        assert not hidden, (rule, hidden)
    assert sum(1 for x in placed if x.routing.catch_all) <= 1
