"""Background jobs (bulk imports, candidate models) that outlive a page run: a thread each, progress polled by the page.

Streamlit reruns the page script on every interaction; a long import must not be tied to one run,
so it runs in a daemon thread and publishes its progress here, keyed by a job id kept in the
user's session.

The thread has no Streamlit session: work must not call ``st.*`` (``st.session_state``,
``st.cache_resource`` functions such as ``app.services.predictor_for``...), which there only log
"missing ScriptRunContext" and read nothing of the user's. Resolve what the work needs (the store,
the models, the uploaded bytes) in the page before :func:`start`, and pass plain objects in.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Job:
    id: str
    label: str
    progress: Any = None
    result: Any = None
    error: str | None = None
    done: bool = False
    thread: threading.Thread | None = field(default=None, repr=False)
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)


_JOBS: dict[str, Job] = {}
_LOCK = threading.Lock()


def start(label: str, work: Callable[..., Any], *, cancellable: bool = False) -> str:
    """Run ``work(report_progress)`` in a thread; returns the job id. ``work`` must not call Streamlit.

    A ``cancellable`` job is called as ``work(report_progress, should_stop)``: it checks ``should_stop()``
    between steps and stops (raising) once :func:`cancel` was called.
    """
    job = Job(id=uuid.uuid4().hex, label=label)

    def run() -> None:
        try:
            def report(progress: Any) -> None:
                job.progress = progress

            job.result = work(report, job.cancel_requested.is_set) if cancellable else work(report)
        except Exception as exc:  # reported to the user on the page, never lost silently
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.done = True

    job.thread = threading.Thread(target=run, name=f"job-{label}", daemon=True)
    with _LOCK:
        _JOBS[job.id] = job
    job.thread.start()
    return job.id


def get(job_id: str) -> Job | None:
    with _LOCK:
        return _JOBS.get(job_id)


def cancel(job_id: str) -> bool:
    """Ask a cancellable job to stop at its next check; False when there is no such running job."""
    job = get(job_id)
    if job is None or job.done:
        return False
    job.cancel_requested.set()
    return True
