"""Listing tasks and categories: filters, sorting, paging, the Link header, query validation,
user isolation and a constant number of SQL statements per page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from marshmallow import ValidationError

from backend.schemas.tasks import TaskQuerySchema
from tests.conftest import User, assert_problem, make_category, make_task, recorded_statements

TASKS = "/api/v1/tasks"
CATEGORIES = "/api/v1/categories"
LINK = re.compile(r'<([^>]*)>;\s*rel="([a-z]+)"')
RANK = {"low": 1, "medium": 2, "high": 3}


def listed(user: User, query: str = "", path: str = TASKS) -> dict[str, Any]:
    response = user.get(f"{path}?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(user: User, query: str = "", path: str = TASKS) -> list[int]:
    return [item["id"] for item in listed(user, query, path)["items"]]


def titles(user: User, query: str = "") -> list[str]:
    return [item["title"] for item in listed(user, query)["items"]]


def links(response: Any) -> dict[str, dict[str, list[str]]]:
    """Parse the `Link` header into {rel: query parameters}, checking each target's path."""
    found: dict[str, dict[str, list[str]]] = {}
    for url, rel in LINK.findall(response.headers["Link"]):
        parts = urlsplit(url)
        assert parts.path == urlsplit(response.request.url).path
        assert rel not in found
        found[rel] = parse_qs(parts.query, keep_blank_values=True)
    return found


def offsets(response: Any) -> dict[str, int]:
    return {rel: int(query["offset"][0]) for rel, query in links(response).items()}


# --- filters -----------------------------------------------------------------------------


@pytest.fixture
def varied(user: User) -> dict[str, dict[str, Any]]:
    """Tasks of every status and priority, some dated, some categorized."""
    work = make_category(user, "Work")
    home = make_category(user, "Home")
    specs = {
        "a": {"status": "todo", "priority": "low", "due_date": "2026-12-01"},
        "b": {"status": "in_progress", "priority": "medium", "due_date": "2026-12-05"},
        "c": {"status": "done", "priority": "high", "due_date": "2026-12-10"},
        "d": {"status": "todo", "priority": "high", "category_id": work["id"]},
        "e": {"status": "done", "priority": "low", "category_id": home["id"]},
        "f": {"status": "in_progress", "priority": "high", "due_date": "2026-12-05"},
    }
    tasks = {name: make_task(user, name, **spec) for name, spec in specs.items()}
    tasks["a"] = user.patch(f"{TASKS}/{tasks['a']['id']}", json={"category_id": work["id"]}).json
    return {"work": work, "home": home, **tasks}


def names(user: User, query: str) -> set[str]:
    return set(titles(user, query))


FILTER_CASES = [
    ("status=todo", {"a", "d"}),
    ("status=done", {"c", "e"}),
    ("status=todo,in_progress", {"a", "b", "d", "f"}),
    ("status=todo,done,in_progress", {"a", "b", "c", "d", "e", "f"}),
    ("priority=high", {"c", "d", "f"}),
    ("priority=low,medium", {"a", "b", "e"}),
    ("due_before=2026-12-05", {"a", "b", "f"}),
    ("due_before=2026-12-04", {"a"}),
    ("due_after=2026-12-05", {"b", "c", "f"}),
    ("due_after=2026-12-11", set()),
    ("due_after=2026-12-05&due_before=2026-12-05", {"b", "f"}),
    ("due_after=2026-12-01&due_before=2026-12-10", {"a", "b", "c", "f"}),
    ("due_after=2026-12-06&due_before=2026-12-04", set()),
    ("status=in_progress&priority=high", {"f"}),
    ("status=todo&due_before=2026-12-31", {"a"}),
    ("priority=high&due_after=2026-12-06", {"c"}),
    ("status=done&priority=low,high&q=E", {"e"}),
    ("", {"a", "b", "c", "d", "e", "f"}),
]


def test_filters_alone_and_combined(user: User, varied: dict[str, Any]):
    for query, expected in FILTER_CASES:
        page = listed(user, query)
        assert {item["title"] for item in page["items"]} == expected, query
        assert page["total"] == len(expected), query


def test_category_filter(user: User, varied: dict[str, Any]):
    assert names(user, f"category_id={varied['work']['id']}") == {"a", "d"}
    assert names(user, f"category_id={varied['home']['id']}") == {"e"}
    assert names(user, "category_id=none") == {"b", "c", "f"}
    assert names(user, f"category_id={varied['work']['id']}&status=todo&priority=low") == {"a"}
    assert names(user, "category_id=none&due_after=2026-12-06") == {"c"}


def test_category_filter_of_empty_category(user: User):
    make_task(user)
    empty = make_category(user, "Empty")
    page = listed(user, f"category_id={empty['id']}")
    assert page["items"] == []
    assert page["total"] == 0


def test_category_filter_naming_no_category_is_400(user: User):
    for category_id in ("999", "0", "2147483648", "99999999999999999999"):
        response = user.get(f"{TASKS}?category_id={category_id}")
        body = assert_problem(response, 400, "validation_error")
        assert list(body["errors"]) == ["category_id"], category_id


def test_category_filter_of_another_user_is_403(user: User, other_user: User):
    theirs = make_category(other_user, "Theirs")
    make_task(other_user, category_id=theirs["id"])
    assert_problem(user.get(f"{TASKS}?category_id={theirs['id']}"), 403, "forbidden")


def test_q_searches_title_and_description_case_insensitively(user: User):
    make_task(user, "Buy MILK")
    make_task(user, "Call mom", description="ask about the milkshake")
    make_task(user, "Write report", description="Quarterly")
    make_task(user, "Nothing here")
    assert names(user, "q=milk") == {"Buy MILK", "Call mom"}
    assert names(user, "q=MiLk") == {"Buy MILK", "Call mom"}
    assert names(user, "q=QUARTER") == {"Write report"}
    assert names(user, "q=report") == {"Write report"}
    assert names(user, "q=%20milk%20") == {"Buy MILK", "Call mom"}
    assert names(user, "q=absent") == set()
    assert names(user, "q=") == {"Buy MILK", "Call mom", "Write report", "Nothing here"}
    assert names(user, "q=milk&status=done") == set()


def test_q_is_case_insensitive_beyond_ascii(user: User):
    make_task(user, "ÜBER alles")
    make_task(user, "Café", description="CRÈME brûlée")
    make_task(user, "plain")
    assert names(user, "q=über") == {"ÜBER alles"}
    assert names(user, "q=CAFÉ") == {"Café"}
    assert names(user, "q=crème") == {"Café"}


def test_q_treats_wildcards_literally(user: User):
    make_task(user, "100% done")
    make_task(user, "100 percent")
    make_task(user, "snake_case")
    make_task(user, "snakeXcase")
    make_task(user, "back\\slash")
    make_task(user, "slash/forward")
    assert names(user, "q=100%25") == {"100% done"}
    assert names(user, "q=%25") == {"100% done"}
    assert names(user, "q=e_c") == {"snake_case"}
    assert names(user, "q=_") == {"snake_case"}
    assert names(user, "q=%5C") == {"back\\slash"}
    assert names(user, "q=/") == {"slash/forward"}


def test_lists_never_show_another_users_rows(user: User, other_user: User):
    mine = make_task(user, "shared words")
    make_task(other_user, "shared words")
    make_category(user, "Same")
    theirs = make_category(other_user, "Same")
    make_task(other_user, "in their category", category_id=theirs["id"])
    assert ids(user, "q=shared") == [mine["id"]]
    assert ids(user, "status=todo") == [mine["id"]]
    assert ids(user, "category_id=none") == [mine["id"]]
    assert listed(user)["total"] == 1
    assert [item["name"] for item in listed(user, path=CATEGORIES)["items"]] == ["Same"]
    assert listed(user, path=CATEGORIES)["total"] == 1
    assert listed(other_user)["total"] == 2


def test_unknown_parameters_are_ignored(user: User):
    task = make_task(user)
    response = user.get(f"{TASKS}?foo=bar&user_id=999&Status=nonsense&page=9")
    assert response.status_code == 200
    assert response.get_json()["items"] == [task]
    assert user.get(f"{CATEGORIES}?foo=1&sort=nonsense&status=x").status_code == 200


# --- query validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("status=open", "status"),
        ("status=todo,open", "status"),
        ("status=", "status"),
        ("status=TODO", "status"),
        ("priority=urgent", "priority"),
        ("priority=2", "priority"),
        ("sort=foo", "sort"),
        ("sort=-", "sort"),
        ("sort=", "sort"),
        ("sort=title,foo", "sort"),
        ("sort=title,-title", "sort"),
        ("sort=%2Btitle", "sort"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-5", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=5_0", "limit"),
        ("limit=%EF%BC%91%EF%BC%90", "limit"),  # full-width digits
        ("limit=%2B7", "limit"),
        ("offset=%D9%A0%D9%A1", "offset"),  # Arabic-Indic digits
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=abc", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("due_before=tomorrow", "due_before"),
        ("due_before=2026-13-01", "due_before"),
        ("due_after=20261201", "due_after"),
        ("due_after=2026-02-30", "due_after"),
        ("category_id=abc", "category_id"),
        ("category_id=-1", "category_id"),
        ("category_id=1.5", "category_id"),
        ("category_id=", "category_id"),
        ("q=%00", "q"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_bad_task_query_is_400_naming_the_parameter(user: User, query: str, parameter: str):
    make_task(user)
    body = assert_problem(user.get(f"{TASKS}?{query}"), 400, "validation_error")
    assert parameter in body["errors"], body


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("offset=-1", "offset"), ("limit=x", "limit")],
)
def test_bad_category_query_is_400_naming_the_parameter(user: User, query: str, parameter: str):
    body = assert_problem(user.get(f"{CATEGORIES}?{query}"), 400, "validation_error")
    assert parameter in body["errors"]


def test_list_needs_a_token(client):
    assert_problem(client.get(TASKS), 401, "token_missing")
    assert_problem(client.get(CATEGORIES), 401, "token_missing")


# --- sorting -------------------------------------------------------------------------------


@pytest.fixture
def sortable(user: User) -> list[dict[str, Any]]:
    """Tasks whose every sort key differs, created in an order unlike any sort."""
    specs = [
        ("banana", "high", "2026-12-03"),
        ("Apple", "low", None),
        ("cherry", "medium", "2026-12-01"),
        ("date", "low", "2026-12-05"),
        ("Elder", "high", None),
        ("fig", "medium", "2026-12-02"),
    ]
    tasks = [make_task(user, title, priority=p, due_date=d) for title, p, d in specs]
    # Change them in another order so that updated_at differs from created_at's order.
    for index in (3, 0, 5, 1, 4, 2):
        tasks[index] = user.patch(
            f"{TASKS}/{tasks[index]['id']}", json={"description": "touched"}
        ).json
    return tasks


SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "created_at": lambda task: task["created_at"],
    "updated_at": lambda task: task["updated_at"],
    "priority": lambda task: RANK[task["priority"]],
    "title": lambda task: task["title"].lower(),
}


@pytest.mark.parametrize("key", list(SORT_KEYS))
def test_sort_by_each_key(user: User, sortable: list[dict[str, Any]], key: str):
    for descending in (False, True):
        query = f"sort={'-' if descending else ''}{key}"
        items = listed(user, query)["items"]
        values = [SORT_KEYS[key](item) for item in items]
        assert values == sorted(values, reverse=descending), query
        assert len(set(values)) == len(values) or key == "priority"
        assert sorted(item["id"] for item in items) == sorted(task["id"] for task in sortable)


def test_priority_sorts_by_rank_not_alphabet(user: User):
    for priority in ("medium", "high", "low"):
        make_task(user, priority, priority=priority)
    assert titles(user, "sort=priority") == ["low", "medium", "high"]
    assert titles(user, "sort=-priority") == ["high", "medium", "low"]


def test_title_sort_ignores_case(user: User, sortable: list[dict[str, Any]]):
    assert titles(user, "sort=title") == ["Apple", "banana", "cherry", "date", "Elder", "fig"]


def test_undated_tasks_sort_last_in_both_directions(user: User, sortable: list[dict[str, Any]]):
    dated = ["cherry", "fig", "banana", "date"]
    ascending = titles(user, "sort=due_date")
    assert ascending[:4] == dated
    assert set(ascending[4:]) == {"Apple", "Elder"}
    descending = titles(user, "sort=-due_date")
    assert descending[:4] == dated[::-1]
    assert set(descending[4:]) == {"Apple", "Elder"}


def test_default_sort_is_newest_first(user: User, sortable: list[dict[str, Any]]):
    assert ids(user) == [task["id"] for task in reversed(sortable)]
    assert ids(user) == ids(user, "sort=-created_at")


def test_sort_by_several_keys(user: User, sortable: list[dict[str, Any]]):
    assert titles(user, "sort=priority,title") == [
        "Apple",
        "date",
        "cherry",
        "fig",
        "banana",
        "Elder",
    ]
    assert titles(user, "sort=-priority,-due_date") == [
        "banana",
        "Elder",
        "fig",
        "cherry",
        "date",
        "Apple",
    ]
    assert titles(user, "sort=priority,%20-title") == [
        "date",
        "Apple",
        "fig",
        "cherry",
        "Elder",
        "banana",
    ]


def walk(user: User, query: str, limit: int) -> tuple[list[int], list[int]]:
    """Follow `next` links from the first page; return the ids seen and each page's size."""
    seen: list[int] = []
    sizes: list[int] = []
    response = user.get(f"{TASKS}?{query}&limit={limit}")
    while True:
        assert response.status_code == 200
        page = response.get_json()
        seen += [item["id"] for item in page["items"]]
        sizes.append(len(page["items"]))
        following = links(response).get("next")
        if following is None:
            return seen, sizes
        response = user.get(f"{TASKS}?{urlencode(following, doseq=True)}")


@pytest.mark.parametrize("sort", ["priority", "-priority", "-due_date"])
def test_ties_are_broken_by_id_so_pages_never_overlap(user: User, sort: str):
    created = [make_task(user, "same")["id"] for _ in range(25)]
    seen, sizes = walk(user, f"sort={sort}", 7)
    assert sizes == [7, 7, 7, 4]
    assert sorted(seen) == sorted(created)
    assert len(set(seen)) == 25
    assert seen in (sorted(created), sorted(created, reverse=True))
    assert walk(user, f"sort={sort}", 7)[0] == seen
    if not sort.startswith("-"):
        assert seen == sorted(created)


# --- pages and links ------------------------------------------------------------------------


def test_page_envelope(user: User):
    for n in range(5):
        make_task(user, f"t{n}")
    page = listed(user, "limit=2&offset=1")
    assert set(page) == {"items", "total", "limit", "offset"}
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (5, 2, 1, 2)
    default = listed(user)
    assert (default["limit"], default["offset"]) == (20, 0)
    beyond = listed(user, "offset=10")
    assert (beyond["items"], beyond["total"]) == ([], 5)
    assert len(listed(user, "limit=100")["items"]) == 5


LINK_CASES = [
    (20, 0, {"first": 0, "last": 0}),
    (10, 0, {"first": 0, "last": 0}),
    (9, 0, {"first": 0, "last": 9, "next": 9}),
    (9, 9, {"first": 0, "last": 9, "prev": 0}),
    (3, 0, {"first": 0, "last": 9, "next": 3}),
    (3, 3, {"first": 0, "last": 9, "prev": 0, "next": 6}),
    (3, 4, {"first": 0, "last": 9, "prev": 1, "next": 7}),
    (3, 1, {"first": 0, "last": 9, "prev": 0, "next": 4}),
    (3, 9, {"first": 0, "last": 9, "prev": 6}),
    (3, 8, {"first": 0, "last": 9, "prev": 5}),
    (5, 5, {"first": 0, "last": 5, "prev": 0}),
    (4, 6, {"first": 0, "last": 8, "prev": 2}),
    (4, 5, {"first": 0, "last": 8, "prev": 1, "next": 9}),
    (3, 30, {"first": 0, "last": 9, "prev": 9}),
]


def test_link_header(user: User):
    for n in range(10):
        make_task(user, f"t{n}")
    for limit, offset, expected in LINK_CASES:
        response = user.get(f"{TASKS}?limit={limit}&offset={offset}")
        assert response.get_json()["total"] == 10
        assert offsets(response) == expected, (limit, offset)
        assert {int(query["limit"][0]) for query in links(response).values()} == {limit}


def test_link_header_of_an_empty_list(user: User):
    for query in ("", "limit=5&offset=10"):
        response = user.get(f"{TASKS}?{query}")
        assert response.get_json()["total"] == 0
        expected = {"first": 0, "last": 0} if not query else {"first": 0, "last": 0, "prev": 0}
        assert offsets(response) == expected


def test_links_keep_filters_and_sort(user: User):
    category = make_category(user, "Work")
    for n in range(9):
        make_task(user, f"match {n}", priority="high", category_id=category["id"])
    make_task(user, "other", priority="low")
    query = (
        f"status=todo&priority=high,medium&q=match&sort=-priority,title"
        f"&category_id={category['id']}&foo=bar"
    )
    response = user.get(f"{TASKS}?{query}&limit=3&offset=3")
    assert response.get_json()["total"] == 9
    found = links(response)
    assert set(found) == {"first", "prev", "next", "last"}
    for params in found.values():
        assert params["status"] == ["todo"]
        assert params["priority"] == ["high,medium"]
        assert params["q"] == ["match"]
        assert params["sort"] == ["-priority,title"]
        assert params["category_id"] == [str(category["id"])]
        assert params["foo"] == ["bar"]
    # Following every link gives pages of the same filtered, sorted list.
    full = ids(user, f"{query}&limit=100")
    for rel, params in found.items():
        page = user.get(f"{TASKS}?{urlencode(params, doseq=True)}").get_json()
        offset = int(params["offset"][0])
        assert [item["id"] for item in page["items"]] == full[offset : offset + 3], rel


def test_categories_are_sorted_by_name_ignoring_case_and_paged(user: User):
    names_ = ["delta", "Alpha", "charlie", "Bravo", "echo"]
    for name in names_:
        make_category(user, name)
    page = listed(user, path=CATEGORIES)
    assert [item["name"] for item in page["items"]] == [
        "Alpha",
        "Bravo",
        "charlie",
        "delta",
        "echo",
    ]
    assert page["total"] == 5

    response = user.get(f"{CATEGORIES}?limit=2&offset=2")
    assert [item["name"] for item in response.get_json()["items"]] == ["charlie", "delta"]
    assert offsets(response) == {"first": 0, "last": 4, "prev": 0, "next": 4}
    last = user.get(f"{CATEGORIES}?limit=2&offset=4")
    assert [item["name"] for item in last.get_json()["items"]] == ["echo"]
    assert offsets(last) == {"first": 0, "last": 4, "prev": 2}


def test_categories_can_be_searched(user: User):
    for name in ("Work", "Homework", "Straße", "100% fun", "snake_case", "Home"):
        make_category(user, name)
    search = {
        "q=WORK": ["Homework", "Work"],
        "q=strasse": ["Straße"],
        "q=STRASSE": ["Straße"],
        "q=%25": ["100% fun"],
        "q=_": ["snake_case"],
        "q=": ["100% fun", "Home", "Homework", "snake_case", "Straße", "Work"],
    }
    for query, expected in search.items():
        page = listed(user, query, CATEGORIES)
        assert [item["name"] for item in page["items"]] == expected, query
        assert page["total"] == len(expected)


def test_category_list_items_are_full_categories(user: User):
    category = make_category(user, "Work", color="#FFAA00")
    make_task(user, category_id=category["id"])
    [item] = listed(user, path=CATEGORIES)["items"]
    assert item == {**category, "task_count": 1}


# --- SQL statements per page -------------------------------------------------------------


def count_statements(app: Flask, user: User, path: str) -> int:
    user.get(path)  # warm up: connections and caches
    with recorded_statements(app) as statements:
        response = user.get(path)
    assert response.status_code == 200
    return len(statements)


def test_task_list_runs_a_constant_number_of_statements(app: Flask, user: User, other_user: User):
    category = make_category(user, "Work")
    make_task(user, category_id=category["id"])
    query = f"{TASKS}?limit=100&category_id={category['id']}&sort=priority"
    one = count_statements(app, user, query)
    plain_one = count_statements(app, user, TASKS)
    for n in range(29):
        make_task(user, f"t{n}", category_id=category["id"])
        make_task(other_user, f"o{n}")
    assert len(listed(user, f"limit=100&category_id={category['id']}")["items"]) == 30
    assert count_statements(app, user, query) == one
    assert count_statements(app, user, TASKS) == plain_one
    assert one <= 5


def test_category_list_runs_a_constant_number_of_statements(app: Flask, user: User):
    first = make_category(user, "c00")
    make_task(user, category_id=first["id"])
    one = count_statements(app, user, f"{CATEGORIES}?limit=100")
    for n in range(1, 30):
        category = make_category(user, f"c{n:02}")
        make_task(user, category_id=category["id"])
        make_task(user, category_id=category["id"])
    page = listed(user, "limit=100", CATEGORIES)
    assert len(page["items"]) == 30
    assert [item["task_count"] for item in page["items"]] == [1] + [2] * 29
    assert count_statements(app, user, f"{CATEGORIES}?limit=100") == one
    assert one <= 4


@pytest.mark.parametrize("field", ["status", "priority", "sort"])
def test_query_fields_refuse_values_that_are_not_strings(field: str):
    with pytest.raises(ValidationError) as error:
        TaskQuerySchema().load({field: 1})
    assert field in error.value.normalized_messages()


def test_search_lower_cases_alike_on_both_databases(user: User):
    """`q` compares lower-cased text, as PostgreSQL's lower() does: no folding of ß to ss."""
    for title in ("Straße", "ÉTÉ plans", "plain"):
        make_task(user, title)
    search = {"strasse": [], "STRAßE": ["Straße"], "été": ["ÉTÉ plans"], "PLAIN": ["plain"]}
    for text, expected in search.items():
        page = user.get(TASKS, query_string={"q": text}).get_json()
        assert [item["title"] for item in page["items"]] == expected, text
