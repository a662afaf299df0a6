"""``spendwatch report`` cost: building a month's board report from a big SQLite store, and
writing its files.

Uses the store of ``bench/cost_query.py`` (``--lines`` lines of spend with a point per hour for
``--days`` days, and a few hundred anomalies with runbook entries), with a shared pool and a
budget on every tenth project. Times, ``--repeat`` times: the model (register, showback of
two months, budgets with forecasts, spend per day and per service, story, charts), then the
Markdown + CSV + HTML files, then the PDF when Chromium is installed. Prints the median and
the slowest of each, and the size of the HTML file.

    python bench/report.py --db /tmp/cost-bench.db --repeat 3
    python bench/report.py --lines 200 --days 60
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bench.cost_query import FIRST_HOUR, PROJECTS, store  # noqa: E402
from bot.finance.report import build_report  # noqa: E402
from bot.finance.report_files import write_report  # noqa: E402
from bot.finance.report_pdf import ReportError, find_chromium  # noqa: E402
from bot.settings import Settings  # noqa: E402


def settings_for(db: str) -> Settings:
    return Settings.model_validate({
        "database_url": db,
        "showback": {"shared": [{"name": "platform", "match": {
            "sub_account_id": ["100000000000", "100000000001"]}}]},
        "budgets": [{"project": f"project-{p:03d}", "monthly": 5000.0}
                    for p in range(0, PROJECTS, 10)],
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", type=Path, default=None, help="keep and reuse the store here")
    args = parser.parse_args()
    with store(args.db, lines=args.lines, days=args.days) as engine:
        settings = settings_for(str(engine.url))
        newest = FIRST_HOUR + timedelta(days=args.days) - timedelta(hours=1)
        period = f"{newest:%Y-%m}"
        previous = f"{newest.replace(day=1) - timedelta(days=1):%Y-%m}"
        chromium = True
        try:
            find_chromium()
        except ReportError:
            chromium = False
        timings: dict[str, list[float]] = {"model": [], "md+csv+html": [], "pdf": []}
        html_size = 0
        register = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            report = build_report(engine=engine, settings=settings, period=previous,
                                  now=datetime.now(UTC), playbook=None)
            timings["model"].append(time.perf_counter() - started)
            register = len(report.register)
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                write_report(report, Path(tmp) / "files", ("md", "csv", "html"))
                timings["md+csv+html"].append(time.perf_counter() - started)
                html_size = (Path(tmp) / "files" / "report.html").stat().st_size
                if chromium:
                    started = time.perf_counter()
                    write_report(report, Path(tmp) / "pdf", ("pdf",))
                    timings["pdf"].append(time.perf_counter() - started)
        print(f"report of {previous} (the last whole month before {period}): "
              f"{register} anomalies, {len(report.projects)} projects, "
              f"{len(report.budgets)} budgets; HTML {html_size / 1024:.0f} KiB")
        print(f"{'step':<14}{'n':>4}{'median s':>10}{'max s':>8}")
        for step, values in timings.items():
            if values:
                print(f"{step:<14}{len(values):>4}{statistics.median(values):>10.2f}"
                      f"{max(values):>8.2f}")
            else:
                print(f"{step:<14}   -  (Chromium is not installed)")


if __name__ == "__main__":
    main()
