"""Background jobs publish progress and results, and report failures instead of losing them."""

from __future__ import annotations

import time

from app import jobs


def _wait(job_id: str) -> jobs.Job:
    deadline = time.time() + 10
    while time.time() < deadline:
        job = jobs.get(job_id)
        if job.done:
            return job
        time.sleep(0.01)
    raise AssertionError("job did not finish")


def test_job_reports_progress_and_result() -> None:
    def work(report):  # noqa: ANN001, ANN202
        for i in range(3):
            report(i + 1)
        return "finished"

    job = _wait(jobs.start("count", work))
    assert (job.progress, job.result, job.error) == (3, "finished", None)


def test_job_failure_is_reported() -> None:
    def work(report):  # noqa: ANN001, ANN202
        raise ValueError("disk full")

    job = _wait(jobs.start("fail", work))
    assert job.error == "ValueError: disk full" and job.result is None
    assert jobs.get("no-such-job") is None


def test_cancellable_job_stops_when_asked() -> None:
    import threading

    started = threading.Event()

    def work(report, should_stop):  # noqa: ANN001, ANN202
        started.set()
        for i in range(10_000):
            if should_stop():
                raise RuntimeError(f"cancelled after {i} steps")
            report(i)
            time.sleep(0.001)
        return "ran to the end"

    job_id = jobs.start("long", work, cancellable=True)
    assert started.wait(5)
    assert jobs.cancel(job_id)
    job = _wait(job_id)
    assert job.result is None and job.error.startswith("RuntimeError: cancelled after")
    assert not jobs.cancel(job_id) and not jobs.cancel("no-such-job")
