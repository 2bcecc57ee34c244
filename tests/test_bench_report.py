"""bench/report.py: scenario m's ratio target and scenario r's worker memory target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.report import build, main

MIB = 1024  # KiB


def write_scenario(raw: Path, name: str, rps: float, requests: int, **meta: str) -> None:
    """Write one scenario's files as bench/run and scenario.lua (or probe.py) write them."""
    result = {
        "duration_us": 5_000_000,
        "requests": requests,
        "bytes": 1000,
        "rps": rps,
        "latency_us": {"mean": 900.0, "p50": 800, "p90": 1500, "p99": 3000, "max": 9000},
        "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "wrk_status_errors": 0,
        "non2xx": 0,
        "non2xx_by_status": {},
        "first_non2xx": "",
    }
    (raw / f"{name}.json").write_text(json.dumps(result))
    (raw / f"{name}.txt").write_text("")
    lines = {"label": f"GET /{name}", "connections": "16", "threads": "2", **meta}
    (raw / f"{name}.meta").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))


def write_rss(raw: Path, name: str, rss_kib: dict[int, int]) -> None:
    """Write `pid rss_kib` lines as bench/run's sample_rss does."""
    (raw / name).write_text("".join(f"{pid} {rss}\n" for pid, rss in rss_kib.items()))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A run's output directory: the ceiling, m, the soak, and r with two workers."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "meta.txt").write_text("scenarios=ceiling m soak r\n")
    write_scenario(raw, "ceiling", 4000.0, 20_000)
    write_scenario(raw, "m", 1200.0, 6000)
    write_scenario(raw, "soak", 1500.0, 15_000)
    write_scenario(raw, "r", 40.0, 1200, planned="1200")
    for name in ("rss-start.txt", "rss-end.txt", "rss-r-before.txt"):
        write_rss(raw, name, {101: 80 * MIB, 102: 80 * MIB})
    write_rss(raw, "rss-r-after.txt", {101: 90 * MIB, 102: 100 * MIB})
    return tmp_path


def target(out: Path, prefix: str) -> tuple[str, bool]:
    """The measured value and outcome of the one target whose name starts with `prefix`."""
    (found,) = [t for t in build(out).targets if t.name.startswith(prefix)]
    return found.measured, found.passed


def test_m_is_a_ratio_to_the_ceiling_with_its_own_minimum(out: Path):
    assert target(out, "m: req/s / ceiling") == ("0.300", True)
    write_scenario(out / "raw", "m", 960.0, 4800)
    assert target(out, "m: req/s / ceiling") == ("0.240", False)


def test_r_passes_while_no_worker_grows_by_more_than_64_mib(out: Path):
    assert target(out, "r: worker RSS growth") == ("max +20.0 MiB", True)
    assert build(out).scenarios["r"].ratio is None


def test_r_fails_when_one_worker_grows_by_more_than_64_mib(out: Path):
    write_rss(out / "raw", "rss-r-after.txt", {101: 90 * MIB, 102: 145 * MIB})
    assert target(out, "r: worker RSS growth") == ("max +65.0 MiB", False)


def test_r_fails_when_a_worker_was_replaced(out: Path):
    write_rss(out / "raw", "rss-r-after.txt", {101: 90 * MIB, 103: 80 * MIB})
    measured, passed = target(out, "r: worker RSS growth")
    assert "a worker was replaced" in measured
    assert not passed


def test_r_fails_when_fewer_reads_were_made_than_planned(out: Path):
    write_scenario(out / "raw", "r", 40.0, 1100, planned="1200")
    assert target(out, "r: worker RSS growth") == ("max +20.0 MiB (only 1100 of 1200 reads)", False)


def test_the_report_shows_r_per_worker(out: Path, capsys: pytest.CaptureFixture[str]):
    assert main(out) == 0
    text = capsys.readouterr().out
    assert "Worker memory over scenario r:" in text
    assert "| 102 | 80.0 | 100.0 | +25.0 % | +20.0 |" in text
    data = json.loads((out / "results.json").read_text())
    assert [row["growth_mib"] for row in data["probe_memory"]] == [10.0, 20.0]
