"""Seed the benchmark database and write the fixtures `bench/run` needs (tokens, task ids).

Users are registered through the running API, so their password hashes come from the app
itself with its production Argon2 parameters.  Categories and tasks are written straight
into PostgreSQL (one multi-row INSERT, then COPY): 113,200 tasks take seconds, not minutes.
Then the tables are vacuumed and analysed, the users log in through the API, and two files
are written: ENV_FILE, shell-sourceable, with the access tokens of the single-user scenarios
and a sample of task ids; MIX_FILE, for scenario m, one line `user_id token task_id ...` per
user of the mixed workload (scenario.lua reads it).

Usage: uv run python bench/seed.py API_URL DATABASE_URL ENV_FILE MIX_FILE
"""

from __future__ import annotations

import json
import random
import shlex
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

PASSWORD = "Bench-Passw0rd!"
USERS = {
    "SMALL": ("bench-small@example.com", 100),
    "MID": ("bench-mid@example.com", 10_000),
    "BIG": ("bench-big@example.com", 100_000),
}
SAMPLE_IDS = 1_000  # ids of the mid user's tasks that scenarios c and e pick from
MIX_USERS, MIX_TASKS = 100, 30  # scenario m: each request from a random one of these users
PROBE = ("bench-probe@example.com", 100)  # scenario r: one page of 100 long descriptions
PROBE_DESCRIPTION_LENGTH = 9_000
PARALLEL_LOGINS = 4  # registrations and logins hash with Argon2: a few at a time
CATEGORIES = (
    ("Work", "#1E90FF"),
    ("Home", "#2E8B57"),
    ("Errands", None),
    ("Health", "#DC143C"),
    ("Finance", "#DAA520"),
    ("Side project", "#8A2BE2"),
    ("Reading", None),
)
VERBS = ("Write", "Review", "Call", "Buy", "Fix", "Plan", "Email", "Book", "Clean", "Prepare")
NOUNS = (
    "the quarterly report",
    "the dentist",
    "groceries for the week",
    "the leaking tap",
    "the team offsite",
    "Alex about the invoice",
    "flights to Lisbon",
    "the garage",
    "slides for Monday",
    "the insurance renewal",
    "pull request feedback",
    "the budget spreadsheet",
)
DESCRIPTIONS = (
    "Check the numbers with finance before sending.",
    "Ask for a quote first; the last one was too expensive.",
    "See the notes from last week's meeting.\nTwo open questions remain.",
    "Low effort, but it keeps slipping.",
)
STATUSES = (("todo", 45), ("in_progress", 20), ("done", 35))
PRIORITIES = ((1, 30), (2, 50), (3, 20))
TASK_COLUMNS = (
    "user_id",
    "category_id",
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "completed_at",
    "created_at",
    "updated_at",
    "version",
)


@dataclass(frozen=True)
class SeededUser:
    """A user the benchmark acts as."""

    key: str
    email: str
    task_count: int
    description_length: int = 0  # 0: short, varied descriptions; else all of this length


def planned_users() -> list[SeededUser]:
    """Every user to seed: the single-user scenarios', scenario m's and scenario r's."""
    users = [SeededUser(key, email, count) for key, (email, count) in USERS.items()]
    users += [
        SeededUser(f"MIX{n:03d}", f"bench-mix-{n:03d}@example.com", MIX_TASKS)
        for n in range(1, MIX_USERS + 1)
    ]
    users.append(SeededUser("PROBE", *PROBE, PROBE_DESCRIPTION_LENGTH))
    return users


def long_description(number: int, length: int) -> str:
    """A description of exactly `length` characters, different for every task."""
    text = f"Task {number}: " + " ".join(DESCRIPTIONS).replace("\n", " ") + " "
    return (text * (length // len(text) + 1))[:length]


def call_api(base_url: str, path: str, body: dict[str, Any], expected: int) -> dict[str, Any]:
    """POST `body` as JSON and return the JSON answer; fail loudly on any other status."""
    request = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    if status != expected:
        raise SystemExit(f"seed: POST {path} answered {status}, expected {expected}: {payload!r}")
    return json.loads(payload)


def weighted(rng: random.Random, table: tuple[tuple[Any, int], ...]) -> Any:
    """Pick a value from `(value, weight)` pairs."""
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights)[0]


def task_rows(
    rng: random.Random, user: SeededUser, user_id: int, category_ids: list[int], now: datetime
) -> Any:
    """Yield the user's realistic task rows for COPY, created over the past year."""
    year = timedelta(days=365).total_seconds()
    for number in range(user.task_count):
        created = now - timedelta(seconds=rng.uniform(0, year))
        status = weighted(rng, STATUSES)
        age = (now - created).total_seconds()
        completed = None
        if status == "done":
            completed = created + timedelta(seconds=rng.uniform(0, age))
            updated = completed
        elif rng.random() < 0.5:
            updated = created + timedelta(seconds=rng.uniform(0, age))
        else:
            updated = created
        due: date | None = None
        if rng.random() >= 0.30:
            due = created.date() + timedelta(days=rng.randint(-5, 60))
        # The draws stay in this order, so that the first users' data never change.
        category = rng.choice(category_ids) if category_ids and rng.random() < 0.8 else None
        title = f"{rng.choice(VERBS)} {rng.choice(NOUNS)} #{number + 1}"
        description = rng.choice(DESCRIPTIONS) if rng.random() < 0.6 else None
        if user.description_length:
            description = long_description(number + 1, user.description_length)
        yield (
            user_id,
            category,
            title,
            description,
            status,
            weighted(rng, PRIORITIES),
            due,
            completed,
            created,
            updated,
            1,
        )


def insert_categories(cursor: psycopg.Cursor[Any], rng: random.Random, user_id: int) -> list[int]:
    """Give the user 3 to 6 categories in one multi-row INSERT; return their ids."""
    chosen = rng.sample(CATEGORIES, rng.randint(3, 6))
    now = datetime.now(UTC)
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, 1)"] * len(chosen))
    values: list[Any] = []
    for name, color in chosen:
        values += [user_id, name, name.casefold(), color, now, now]
    cursor.execute(
        "INSERT INTO categories (user_id, name, name_key, color, created_at, updated_at, version)"
        f" VALUES {placeholders} RETURNING id",
        values,
    )
    return [row[0] for row in cursor.fetchall()]


def seed_database(
    database_url: str, users: list[SeededUser], ids: dict[str, int]
) -> dict[int, list[int]]:
    """Write every user's categories and tasks (`ids`: by email); return task ids by user id."""
    rng = random.Random(2026)  # same data on every run
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        for user in users:
            user_id = ids[user.email]
            category_ids = insert_categories(cursor, rng, user_id)
            rows = task_rows(rng, user, user_id, category_ids, now)
            with cursor.copy(f"COPY tasks ({', '.join(TASK_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        cursor.execute("SELECT user_id, id FROM tasks ORDER BY id")
        task_ids: dict[int, list[int]] = {}
        for user_id, task_id in cursor:
            task_ids.setdefault(user_id, []).append(task_id)
    for user in users:
        count = len(task_ids.get(ids[user.email], []))
        if count != user.task_count:
            raise SystemExit(f"seed: {user.email} has {count} tasks")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return task_ids


def user_ids(database_url: str) -> dict[str, int]:
    """Return the ids of the registered benchmark users by email."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT email, id FROM users").fetchall()
    return dict(rows)


def for_every_user(
    api_url: str, users: list[SeededUser], path: str, expected: int
) -> list[dict[str, Any]]:
    """POST every user's email and password to `path`, a few at a time; return the answers."""
    with ThreadPoolExecutor(PARALLEL_LOGINS) as pool:
        return list(
            pool.map(
                lambda user: call_api(
                    api_url, path, {"email": user.email, "password": PASSWORD}, expected
                ),
                users,
            )
        )


def main(api_url: str, database_url: str, env_file: Path, mix_file: Path) -> None:
    """Register, seed, log in, and write the fixtures files."""
    database_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    started = time.perf_counter()
    users = planned_users()
    for_every_user(api_url, users, "/api/v1/auth/register", 201)
    ids = user_ids(database_url)
    task_ids = seed_database(database_url, users, ids)
    mid_ids = task_ids[ids[USERS["MID"][0]]]
    sample = sorted(random.Random(2026).sample(mid_ids, min(SAMPLE_IDS, len(mid_ids))))
    lines = {
        "SEED_PASSWORD": PASSWORD,
        "SEED_TASK_IDS": ",".join(map(str, sample)),
    }
    mix_lines = []
    pairs = for_every_user(api_url, users, "/api/v1/auth/login", 200)
    for user, pair in zip(users, pairs, strict=True):
        user_id = ids[user.email]
        if user.key.startswith("MIX"):
            mix_lines.append(
                " ".join(map(str, [user_id, pair["access_token"], *task_ids[user_id]]))
            )
        else:
            lines[f"SEED_EMAIL_{user.key}"] = user.email
            lines[f"SEED_TOKEN_{user.key}"] = pair["access_token"]
    env_file.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in lines.items()))
    mix_file.write_text("".join(f"{line}\n" for line in mix_lines))
    total = sum(user.task_count for user in users)
    print(
        f"seed: {len(users)} users, {total:,} tasks in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
