"""Seed the benchmark database and write the fixtures `bench/run` needs (tokens, task ids).

Users are registered through the running API, so their password hashes come from the app
itself with its production Argon2 parameters.  Categories and tasks are written straight
into PostgreSQL (one multi-row INSERT, then COPY): 110,100 tasks take seconds, not minutes.
Then the tables are vacuumed and analysed, the users log in through the API, and a
shell-sourceable file with their access tokens and a sample of task ids is written.

Usage: uv run python bench/seed.py API_URL DATABASE_URL ENV_FILE
"""

from __future__ import annotations

import json
import random
import shlex
import sys
import time
import urllib.error
import urllib.request
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
    id: int
    task_count: int


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
    rng: random.Random, user_id: int, category_ids: list[int], count: int, now: datetime
) -> Any:
    """Yield `count` realistic task rows for COPY, created over the past year."""
    year = timedelta(days=365).total_seconds()
    for number in range(count):
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
        yield (
            user_id,
            rng.choice(category_ids) if category_ids and rng.random() < 0.8 else None,
            f"{rng.choice(VERBS)} {rng.choice(NOUNS)} #{number + 1}",
            rng.choice(DESCRIPTIONS) if rng.random() < 0.6 else None,
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


def seed_database(database_url: str, users: list[SeededUser]) -> list[int]:
    """Write categories and tasks for every user; return a sample of the mid user's task ids."""
    rng = random.Random(2026)  # same data on every run
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        for user in users:
            category_ids = insert_categories(cursor, rng, user.id)
            rows = task_rows(rng, user.id, category_ids, user.task_count, now)
            with cursor.copy(f"COPY tasks ({', '.join(TASK_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        mid = next(user for user in users if user.key == "MID")
        cursor.execute("SELECT id FROM tasks WHERE user_id = %s ORDER BY id", [mid.id])
        mid_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT user_id, count(*) FROM tasks GROUP BY user_id")
        counts = dict(cursor.fetchall())
    for user in users:
        if counts.get(user.id) != user.task_count:
            raise SystemExit(f"seed: {user.email} has {counts.get(user.id)} tasks")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return sorted(rng.sample(mid_ids, min(SAMPLE_IDS, len(mid_ids))))


def user_ids(database_url: str) -> dict[str, int]:
    """Return the ids of the registered benchmark users by email."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT email, id FROM users").fetchall()
    return dict(rows)


def main(api_url: str, database_url: str, env_file: Path) -> None:
    """Register, seed, log in, and write the fixtures file."""
    database_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    started = time.perf_counter()
    for email, _count in USERS.values():
        call_api(api_url, "/api/v1/auth/register", {"email": email, "password": PASSWORD}, 201)
    ids = user_ids(database_url)
    users = [SeededUser(key, email, ids[email], count) for key, (email, count) in USERS.items()]
    sample = seed_database(database_url, users)
    lines = {
        "SEED_PASSWORD": PASSWORD,
        "SEED_TASK_IDS": ",".join(map(str, sample)),
    }
    for user in users:
        pair = call_api(
            api_url, "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, 200
        )
        lines[f"SEED_EMAIL_{user.key}"] = user.email
        lines[f"SEED_TOKEN_{user.key}"] = pair["access_token"]
    env_file.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in lines.items()))
    total = sum(user.task_count for user in users)
    print(
        f"seed: {len(users)} users, {total:,} tasks in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
