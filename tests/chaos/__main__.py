"""``python -m tests.chaos``: the chaos run at any size, on the local PostgreSQL (a fresh schema).

    .venv/bin/python -m tests.chaos --orders 10000 --json-out var/chaos/large.json   # make chaos
    .venv/bin/python -m tests.chaos                                                  # the CI size
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from sqlalchemy import create_engine, text

from sandbox.erp_sandboxes import ERP_SANDBOXES
from tests.chaos.harness import ChaosPlan, run_chaos

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, help="about this many orders in all (default: the CI size, 156)")
    parser.add_argument("--sellers", type=int, default=2)
    parser.add_argument("--workers", type=int, help="Celery worker processes (2 pool processes each)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--erp", choices=sorted(ERP_SANDBOXES), default="alegra",
                        help="the ERP every seller invoices into (its loopback sandbox)")
    parser.add_argument("--database-url", default=PG_URL, help="PostgreSQL; a fresh schema is created and dropped")
    parser.add_argument("--workdir", type=Path, help="logs and data (default: a temporary directory)")
    parser.add_argument("--json-out", type=Path, help="write the report here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A SIGTERM (Ctrl+C's cousin) must still stop the workers, beat and Redis this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    plan = ChaosPlan.large(args.orders, args.sellers) if args.orders else ChaosPlan(sellers=args.sellers)
    plan = replace(plan, seed=args.seed, erp=args.erp, **({"workers": args.workers} if args.workers else {}))
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="chaos-"))).resolve()
    engine = create_engine(args.database_url)
    schema = f"chaos_{uuid.uuid4().hex[:10]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in args.database_url else "?"
    started = time.monotonic()
    try:
        report = run_chaos(plan, database_url=f"{args.database_url}{separator}options=-csearch_path%3D{schema}",
                           workdir=workdir)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
    print(report.summary())
    print(f"\nwhole run {time.monotonic() - started:.0f} s; logs in {workdir}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report.as_dict(), indent=2, default=str))
        print(f"report written to {args.json_out}")
    print("PASSED: exactly one invoice per eligible order, none lost" if not report.problems else "FAILED")
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
