"""Turn the raw wrk results of one `bench/run` into a table, targets and results.md/.json.

Reads OUT/raw/: for every scenario NAME, NAME.json (written by scenario.lua's done(), or for
scenario r by bench/probe.py), NAME.txt (wrk's own output) and NAME.meta (key=value lines from
bench/run); meta.txt (the run's settings); rss-start.txt / rss-end.txt around the soak and
rss-r-before.txt / rss-r-after.txt around scenario r (`pid rss_kib` per gunicorn worker).
Prints the table and PASS/FAIL per target; writes OUT/results.md and OUT/results.json.
Exit status 0 whether targets pass or not; 1 when an input is missing (the harness broke).

Usage: uv run python bench/report.py OUT_DIR
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CEILING = "ceiling"
RATIO_TARGETS = {"a": 0.25, "b": 0.20, "c": 0.20, "d": 0.20, "e": 0.20, "m": 0.25}
PROBE = "r"  # the memory probe: no ratio, a limit on every worker's RSS growth instead
MAX_PROBE_GROWTH_MIB = 64.0
# Scenario f: (label, run on the 100-task user, run on the 100,000-task user).
SCALING_PAIRS = (("page of a", "f-a-100", "f-a-100k"), ("page of b", "f-b-100", "f-b-100k"))
MAX_SCALING = 2.0
MAX_RSS_CHANGE = 10.0  # percent, either way
META_KEYS = (
    "started",
    "commit",
    "cores",
    "load_before",
    "load_after",
    "workers",
    "gunicorn_threads",
    "worker_class",
    "log_level",
    "postgres",
    "duration",
    "warmup",
    "connections",
    "threads",
    "soak",
    "elapsed",
    "command",
)
NON2XX_TEXT = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET_TEXT = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class HarnessError(RuntimeError):
    """An input the run should have produced is missing or unreadable."""


@dataclass
class Scenario:
    """One wrk run's numbers."""

    name: str
    label: str
    connections: int
    threads: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int
    non2xx_by_status: dict[str, int]
    first_non2xx: str
    ratio: float | None = None


@dataclass
class Target:
    """One pass/fail criterion."""

    name: str
    measured: str
    limit: str
    passed: bool


@dataclass
class Report:
    """Everything results.md and results.json show."""

    meta: dict[str, str]
    scenarios: dict[str, Scenario]
    scaling: list[dict[str, Any]] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    probe_memory: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


def read_key_values(path: Path) -> dict[str, str]:
    """Read `key=value` lines."""
    if not path.is_file():
        raise HarnessError(f"missing {path}")
    pairs = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            pairs[key.strip()] = value.strip()
    return pairs


def load_scenario(raw: Path, name: str) -> Scenario:
    """Combine scenario.lua's JSON with wrk's own counters (the larger count wins)."""
    result_file = raw / f"{name}.json"
    if not result_file.is_file():
        raise HarnessError(f"missing {result_file}: wrk did not finish scenario {name}")
    result = json.loads(result_file.read_text(errors="replace"))
    text = (raw / f"{name}.txt").read_text(errors="replace")
    meta = read_key_values(raw / f"{name}.meta")
    socket_errors = sum(result["socket_errors"].values())
    if match := SOCKET_TEXT.search(text):
        socket_errors = max(socket_errors, sum(int(group) for group in match.groups()))
    non2xx = max(result["non2xx"], result["wrk_status_errors"])
    if match := NON2XX_TEXT.search(text):
        non2xx = max(non2xx, int(match.group(1)))
    latency = result["latency_us"]
    label = meta.get("label", name)
    if name == CEILING:
        label += " (bare Flask: bench/ceiling.py)"
    return Scenario(
        name=name,
        label=label,
        connections=int(meta.get("connections", "0")),
        threads=int(meta.get("threads", "0")),
        rps=float(result["rps"]),
        p50_ms=latency["p50"] / 1000,
        p99_ms=latency["p99"] / 1000,
        requests=int(result["requests"]),
        non2xx=non2xx,
        socket_errors=socket_errors,
        non2xx_by_status=result["non2xx_by_status"],
        first_non2xx=result["first_non2xx"],
    )


def read_rss(path: Path) -> dict[int, int]:
    """Read `pid rss_kib` lines."""
    if not path.is_file():
        raise HarnessError(f"missing {path}")
    samples = {}
    for line in path.read_text().split("\n"):
        if line.strip():
            pid, rss = line.split()
            samples[int(pid)] = int(rss)
    return samples


def memory_rows(raw: Path, before_file: str, after_file: str) -> tuple[list[dict[str, Any]], bool]:
    """Every worker's RSS before and after, with its change; and whether no worker was replaced."""
    start, end = read_rss(raw / before_file), read_rss(raw / after_file)
    rows = []
    for pid in sorted(start.keys() | end.keys()):
        before, after = start.get(pid), end.get(pid)
        change = growth = None
        if before is not None and after is not None:
            change = (after - before) / before * 100 if before else None
            growth = (after - before) / 1024
        rows.append(
            {
                "pid": pid,
                "rss_start_kib": before,
                "rss_end_kib": after,
                "change_pct": change,
                "growth_mib": growth,
            }
        )
    return rows, bool(start) and start.keys() == end.keys()


def probe_target(report: Report, raw: Path) -> Target:
    """Scenario r: did any worker grow by more than the limit over all the planned reads?"""
    report.probe_memory, complete = memory_rows(
        raw, f"rss-{PROBE}-before.txt", f"rss-{PROBE}-after.txt"
    )
    worst = max((row["growth_mib"] or 0.0 for row in report.probe_memory), default=0.0)
    planned = int(read_key_values(raw / f"{PROBE}.meta").get("planned", "0"))
    made = report.scenarios[PROBE].requests
    notes = [] if complete else [" (a worker was replaced)"]
    if made < planned:
        notes.append(f" (only {made} of {planned} reads)")
    return Target(
        f"{PROBE}: worker RSS growth, {planned:,} reads with distinct unknown parameters",
        f"max {worst:+.1f} MiB" + "".join(notes),
        f"<= {MAX_PROBE_GROWTH_MIB:.0f} MiB",
        complete and made >= planned > 0 and worst <= MAX_PROBE_GROWTH_MIB,
    )


def build(out: Path) -> Report:
    """Load every input and evaluate the targets."""
    raw = out / "raw"
    meta = read_key_values(raw / "meta.txt")
    names = meta.get("scenarios", "").split()
    if CEILING not in names:
        raise HarnessError("meta.txt lists no ceiling scenario")
    report = Report(meta, {name: load_scenario(raw, name) for name in names})
    ceiling_rps = report.scenarios[CEILING].rps
    for scenario in report.scenarios.values():
        if scenario.name != PROBE:
            scenario.ratio = scenario.rps / ceiling_rps if ceiling_rps else None

    for name, minimum in RATIO_TARGETS.items():
        if name in report.scenarios:
            ratio = report.scenarios[name].ratio or 0.0
            report.targets.append(
                Target(
                    f"{name}: req/s / ceiling",
                    f"{ratio:.3f}",
                    f">= {minimum:.2f}",
                    ratio >= minimum,
                )
            )

    for label, small_name, big_name in SCALING_PAIRS:
        if small_name not in report.scenarios or big_name not in report.scenarios:
            continue
        small, big = report.scenarios[small_name], report.scenarios[big_name]
        factor = big.p50_ms / small.p50_ms if small.p50_ms else float("inf")
        report.scaling.append(
            {"page": label, "p50_small_ms": small.p50_ms, "p50_big_ms": big.p50_ms, "ratio": factor}
        )
        report.targets.append(
            Target(
                f"f ({label}): p50 100k tasks / p50 100 tasks",
                f"{factor:.2f}",
                f"<= {MAX_SCALING:.0f}",
                factor <= MAX_SCALING,
            )
        )

    failing = [s for s in report.scenarios.values() if s.non2xx or s.socket_errors]
    report.targets.append(
        Target(
            "no non-2xx and no socket errors, every scenario",
            ", ".join(f"{s.name}: {s.non2xx} non-2xx, {s.socket_errors} socket" for s in failing)
            or "none",
            "0",
            not failing,
        )
    )

    report.memory, complete = memory_rows(raw, "rss-start.txt", "rss-end.txt")
    worst = max((abs(row["change_pct"] or 0.0) for row in report.memory), default=0.0)
    report.targets.append(
        Target(
            "worker RSS flat over the soak",
            f"max abs. change {worst:.1f} %" + ("" if complete else " (a worker was replaced)"),
            f"+/- {MAX_RSS_CHANGE:.0f} %",
            complete and worst <= MAX_RSS_CHANGE,
        )
    )
    if PROBE in report.scenarios:
        report.targets.append(probe_target(report, raw))
    return report


def verdict(passed: bool) -> str:
    """Render a target's outcome."""
    return "PASS" if passed else "FAIL"


def memory_table(rows: list[dict[str, Any]]) -> list[str]:
    """Render per-worker RSS rows as a Markdown table."""
    lines = [
        "| worker pid | RSS before MiB | RSS after MiB | change | growth MiB |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        before, after, change = row["rss_start_kib"], row["rss_end_kib"], row["change_pct"]
        start_mib = f"{before / 1024:.1f}" if before else "gone"
        end_mib = f"{after / 1024:.1f}" if after else "gone"
        shown = f"{change:+.1f} %" if change is not None else "n/a"
        growth = f"{row['growth_mib']:+.1f}" if row["growth_mib"] is not None else "n/a"
        lines.append(f"| {row['pid']} | {start_mib} | {end_mib} | {shown} | {growth} |")
    return lines


def markdown(report: Report) -> str:
    """Render the whole report as Markdown (also what the terminal shows)."""
    meta = {key: report.meta.get(key, "?") for key in META_KEYS}
    lines = [
        "# TaskTracker benchmark",
        "",
        f"- when: {meta['started']}; commit {meta['commit']}",
        f"- machine: {meta['cores']} cores; load average {meta['load_before']} before,"
        f" {meta['load_after']} after (other work on the machine makes the numbers noisy)",
        f"- app: gunicorn, {meta['workers']} workers x {meta['gunicorn_threads']} threads"
        f" ({meta['worker_class']}), APP_ENV=production, LOG_LEVEL={meta['log_level']};"
        f" {meta['postgres']}",
        f"- wrk: {meta['duration']} s per scenario after a {meta['warmup']} s warm-up,"
        f" {meta['connections']} connections / {meta['threads']} threads"
        f" (scenario f: 1 / 1); soak {meta['soak']} s",
        f"- the run took {meta['elapsed']} s: `{meta['command']}`",
        "",
        "| scenario | request | conns | req/s | p50 ms | p99 ms | non-2xx | socket errors"
        " | / ceiling |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report.scenarios.values():
        ratio = f"{s.ratio:.3f}" if s.ratio is not None else "-"
        lines.append(
            f"| {s.name} | {s.label} | {s.connections} | {s.rps:,.1f} | {s.p50_ms:.2f} |"
            f" {s.p99_ms:.2f} | {s.non2xx} | {s.socket_errors} | {ratio} |"
        )
    if any("{id}" in s.label for s in report.scenarios.values()):
        lines += ["", "`{id}`: per request, a random one of 1,000 ids of the user's tasks."]
    if "m" in report.scenarios:
        lines += [
            "",
            "m, the mixed workload: one task is one of that user's 30; each PATCH sets a new"
            " title and the next priority (a real change), each POST creates a task.",
        ]
    if PROBE in report.scenarios:
        lines += [
            "",
            f"{PROBE}, the memory probe: one user's page of 100 tasks with 9,000-character"
            " descriptions, each read with a query parameter the API ignores and no read"
            " repeats; no ratio, the target is on worker memory.",
        ]
    if report.scaling:
        lines += [
            "",
            "Scenario f (one connection): does a page cost more with 1,000 times the tasks?",
            "",
            "| page | p50 ms, 100 tasks | p50 ms, 100,000 tasks | big / small |",
            "|---|---:|---:|---:|",
        ]
        for row in report.scaling:
            lines.append(
                f"| {row['page']} | {row['p50_small_ms']:.2f} | {row['p50_big_ms']:.2f} |"
                f" {row['ratio']:.2f} |"
            )
    lines += ["", "Worker memory over the soak (scenario a):", "", *memory_table(report.memory)]
    if report.probe_memory:
        lines += [
            "",
            f"Worker memory over scenario {PROBE}:",
            "",
            *memory_table(report.probe_memory),
        ]
    lines += ["", "| target | measured | limit | result |", "|---|---|---|---|"]
    for target in report.targets:
        lines.append(
            f"| {target.name} | {target.measured} | {target.limit} | {verdict(target.passed)} |"
        )
    bad = [s for s in report.scenarios.values() if s.first_non2xx]
    if bad:
        lines += ["", "First non-2xx response per scenario:", ""]
        for s in bad:
            counts = ", ".join(f"{code} x{n}" for code, n in sorted(s.non2xx_by_status.items()))
            first = " ".join(s.first_non2xx.split())[:300]
            lines.append(f"- {s.name} ({counts}): `{first}`")
    passed = sum(target.passed for target in report.targets)
    lines += ["", f"**{passed} of {len(report.targets)} targets passed.**", ""]
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    """Render the report as plain data."""
    return {
        "meta": report.meta,
        "scenarios": {
            name: {
                "label": s.label,
                "connections": s.connections,
                "threads": s.threads,
                "requests": s.requests,
                "rps": round(s.rps, 2),
                "p50_ms": s.p50_ms,
                "p99_ms": s.p99_ms,
                "non2xx": s.non2xx,
                "non2xx_by_status": s.non2xx_by_status,
                "socket_errors": s.socket_errors,
                "ratio_to_ceiling": round(s.ratio, 4) if s.ratio is not None else None,
                "first_non2xx": s.first_non2xx or None,
            }
            for name, s in report.scenarios.items()
        },
        "scaling": report.scaling,
        "memory": report.memory,
        "probe_memory": report.probe_memory,
        "targets": [vars(target) for target in report.targets],
        "all_passed": all(target.passed for target in report.targets),
    }


def main(out: Path) -> int:
    """Write results.md and results.json and print the Markdown."""
    try:
        report = build(out)
    except (HarnessError, KeyError, ValueError) as error:
        print(f"report: cannot build the report: {error}", file=sys.stderr)
        return 1
    text = markdown(report)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(as_json(report), indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
