"""What sharing state through PostgreSQL costs (issue #29): rate limits and file jobs.

    python benchmarks/shared_state_benchmark.py [--requests 300] [--rounds 3] [--rows 5000]

Starts a PostgreSQL server as the tests do (``tests/postgres_server.py``: Debian's packages, a
free port of 127.0.0.1, ``fsync=off``: a real disk's sync would add to every shared figure) and
serves the bundled demo model with ``serve()``. Every app keeps its history in PostgreSQL, as
replicas do; only the part measured differs between the two of a pair:

1. Rate limits: ``POST /api`` one request at a time, a limit high enough that none is refused,
   counted in the process (``RateLimiter``) or in the database (``SharedRateLimiter``: one
   transaction per request). The configurations take turns for ``--rounds`` rounds; reported:
   median and 90th percentile latency of each, and the difference per request.
2. File jobs: one upload of ``--rows`` reviews predicted as a job, its progress and results
   shared through a folder (``FolderBoard``) or the database (``JobTable``: a row update and the
   new results bytes after every batch); reported: rows per second of each, and their ratio.

Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "scripts")]  # the tests import scripts/ too

from postgres_server import PostgresServer  # noqa: E402 - the tests' PostgreSQL helper

from demo_app import DeployArguments, create_app, load_predictor, serve  # noqa: E402
from demo_app.files.job_board import FolderBoard  # noqa: E402
from demo_app.web.rate_limits import RateLimiter  # noqa: E402

REVIEW = "이 영화 정말 재밌어요 배우들 연기도 좋았고"


def latencies(url: str, count: int) -> list[float]:
    with requests.Session() as session:
        for _ in range(10):  # warm the connection and the model
            session.post(url + "/api", json=REVIEW, timeout=30).raise_for_status()
        taken = []
        for _ in range(count):
            started = time.perf_counter()
            session.post(url + "/api", json=REVIEW, timeout=30).raise_for_status()
            taken.append(time.perf_counter() - started)
    return taken


def job_rows_per_second(url: str, rows: int) -> float:
    content = ("sentence\n" + "".join(f"{REVIEW} {i}\n" for i in range(rows))).encode()
    started = time.perf_counter()
    job = requests.post(url + "/predict/file", files={"file": ("reviews.csv", content)}, timeout=60).json()
    while job["status"] == "running":
        time.sleep(0.05)
        job = requests.get(url + job["status_url"], timeout=30).json()
    assert job["status"] == "done", job
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=5000)
    options = parser.parse_args()
    postgres = PostgresServer()
    predictor = load_predictor(DeployArguments(), verbose=False)
    limit = "1000000/minute"
    # Every app keeps its history in PostgreSQL (a row per request, as a replica would); only the
    # rate limiter, or the jobs' board, differs between the two of a pair.
    apps = {name: create_app(predictor, rate_limit=limit, history=postgres.create_database(f"limits{n}"))
            for n, name in enumerate(("in the process", "in PostgreSQL"))}
    apps["in the process"].extensions["demo_app"].rate_limiter = RateLimiter(limit)
    job_apps = {name: create_app(predictor, history=postgres.create_database(f"jobs{n}"))
                for n, name in enumerate(("a folder", "PostgreSQL"))}
    job_apps["a folder"].extensions["demo_app"].jobs.board = FolderBoard()
    servers = {name: serve(app, port=0, quiet=True) for name, app in {**apps, **job_apps}.items()}
    try:
        taken: dict[str, list[float]] = {name: [] for name in apps}
        rates: dict[str, list[float]] = {name: [] for name in job_apps}
        for _ in range(options.rounds):
            for name in apps:
                taken[name] += latencies(servers[name].url, options.requests // options.rounds)
            for name in job_apps:
                rates[name].append(job_rows_per_second(servers[name].url, options.rows))
        print("| rate limit counted | requests | median ms | p90 ms |\n|---|---|---|---|")
        medians = {}
        for name, values in taken.items():
            medians[name] = statistics.median(values) * 1000
            p90 = statistics.quantiles(values, n=10)[-1] * 1000
            print(f"| {name} | {len(values)} | {medians[name]:.2f} | {p90:.2f} |")
        local, shared = medians["in the process"], medians["in PostgreSQL"]
        print(f"\nPer request, counting in PostgreSQL costs {shared - local:+.2f} ms "
              f"({shared / local:.2f}x the median).\n")
        print("| file jobs shared through | rows | rows/s (median of rounds) |\n|---|---|---|")
        for name, values in rates.items():
            print(f"| {name} | {options.rows} | {statistics.median(values):.0f} |")
        folder, database = (statistics.median(values) for values in rates.values())
        print(f"\nThrough PostgreSQL: {database / folder:.2f}x the folder's rows per second.")
    finally:
        for server in servers.values():
            server.stop()
        postgres.close()


if __name__ == "__main__":
    main()
