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
