"""Batch jobs: a queue persisted in the ``jobs`` table and worker threads.

A submitted job is a row with status ``queued``. A worker claims one with a *lease*
(``lease_owner``, ``lease_expires_ms``): the oldest job that is queued, or running
under a lease that expired because its process died. The claim is one atomic step:
``SELECT ... FOR UPDATE SKIP LOCKED`` then ``UPDATE`` on PostgreSQL, a single
``UPDATE ... WHERE job_id = (SELECT ...) RETURNING`` on SQLite (whose writers take
turns), so two workers, in one process or in several servers on one database, never
run the same job. The worker renews its lease every third of ``lease_s`` while the job
runs and ends it ``done`` or ``failed`` only while it still holds the lease.
Analysis writes are idempotent, so a job taken over after a crash is safe to run again.

What a job runs is a ``JobRunner``; production uses ``occupancy.runtime.analysis.analyse``
(imported only when a job runs), tests register a stand-in. A footage job's source is
opened through ``api.sources.FootagePolicy`` (uploads, media roots, allowed URLs).
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update

from api.sources import FootagePolicy
from occupancy.domain.records import time_ordered_id
from occupancy.domain.states import JobStatus
from occupancy.storage.schema import jobs
from occupancy.storage.store import Store, now_ms

log = logging.getLogger(__name__)
# The declared shops layer: demand of an area's bays no camera watches (server-side data).
_GEODATA = Path(__file__).resolve().parents[2] / "shared" / "geodata"
SHOPS = _GEODATA / "paris_shops_delivery.geojson"
# OSM extract for candidate kerb and walking distances (kerb outside it gets no candidate).
STREETS = _GEODATA / "paris_3e_streets.osm.pbf"

Progress = Callable[[float], None]
# (source, site description, store, progress) -> summary stored as the job's result
JobRunner = Callable[[str, Mapping[str, Any], Store, Progress], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Job:
    """One batch job: its kind, source and site (JSON input), ``JobStatus``, progress in
    [0, 1], error or result, and submission, start and end times (ms since the epoch).
    """

    job_id: str
    kind: str
    source: str
    site: Mapping[str, Any]
    status: JobStatus
    progress: float
    error: str | None
    result: Mapping[str, Any] | None
    submitted_ms: int
    started_ms: int | None
    finished_ms: int | None


def _job(r: Mapping[str, Any]) -> Job:
    return Job(
        job_id=r["job_id"],
        kind=r["kind"],
        source=r["source"],
        site=r["site"],
        status=JobStatus(r["status"]),
        progress=float(r["progress"]),
        error=r["error"],
        result=r["result"],
        submitted_ms=int(r["submitted_ms"]),
        started_ms=r["started_ms"],
        finished_ms=r["finished_ms"],
    )


# An absolute POSIX path not inside a URL: "/" not after a word character, ":" or "/".
_SERVER_PATH = re.compile(r"(?<![\w:/.~-])/[^\s'\"(),;]+")


def public_error(exc: BaseException, opened: str, source: str) -> str:
    """A failed job's error as its submitter sees it: ``Type: message`` without any
    server file-system path. The file the job opened (``opened``: an upload's or a
    download's place in the data folder) is named by the job's ``source``
    (``upload:<id>``, the URL); any other absolute path becomes ``<server path>``."""
    text = f"{type(exc).__name__}: {exc}"
    if opened != source and opened:
        text = text.replace(opened, source)
    return _SERVER_PATH.sub("<server path>", text)


def pipeline_runner(
    source: str, site: Mapping[str, Any], store: Store, progress: Progress
) -> Mapping[str, Any]:
    """Run the real analysis pipeline on footage, as ``baywatch analyse`` does."""
    # Imported here: the pipeline pulls torch/OpenCV, which the API never needs otherwise.
    from occupancy.config.site import parse_site
    from occupancy.runtime.analysis import analyse
    from vision.detector import Detector

    parsed = parse_site(dict(site), Path("<job site>"))
    if parsed.detector.model is not None:  # a job stored before the API refused it
        raise ValueError("site.detector.model: not accepted from a client")
    detector = Detector.for_site(parsed)

    def on_progress(done: int, total: int | None) -> None:
        if total:
            progress(done / total)

    result = analyse(source, parsed, store, detector=detector, progress=on_progress)
    return {
        "run_id": result.run_id,
        "camera_id": result.camera_id,
        "frames_analysed": result.frames_analysed,
        "footage_s": result.footage_s,
        "sessions": len(result.sessions),
        "events": result.events,
    }


def _optimiser_runner(kind: str, payload: Mapping[str, Any], store: Store) -> Mapping[str, Any]:
    """Run an area job on this server's database and store its proposals for review.

    The job names an area, a period, a budget and rules only; the bays and sessions
    come from ``store``, demand where no camera watches from the shared shops layer."""
    from optimiser import requests as rq
    from optimiser.publish import save
    from optimiser.runners import placement, timeslots

    shops = SHOPS if SHOPS.is_file() else None
    if kind == "placement":
        job = rq.PlacementJob.model_validate(dict(payload))
        streets = STREETS if STREETS.is_file() else None
        req: Any = rq.placement_request(job, store.url, shops, streets)
        run = placement(req)
    else:
        tjob = rq.TimeslotJob.model_validate(dict(payload))
        req = rq.timeslot_request(tjob, store.url, shops)
        run = timeslots(req)
    run_id, ids = save(store, kind, run, req.model_dump(mode="json"))
    res = run.result
    return {
        "run_id": run_id,
        "proposals": len(ids),
        "status": res.status,
        "objective": res.objective,
        "bound": res.bound,
        "gap": None if res.gap == float("inf") else res.gap,
        "evidence_shares": res.evidence_shares,
        "summary": res.summary,
        "notes": res.notes,
    }


def placement_runner(
    source: str, payload: Mapping[str, Any], store: Store, progress: Progress
) -> Mapping[str, Any]:
    """Where delivery bays should be (``optimiser.runners.placement``)."""
    return _optimiser_runner("placement", payload, store)


def timeslots_runner(
    source: str, payload: Mapping[str, Any], store: Store, progress: Progress
) -> Mapping[str, Any]:
    """Which regime each bay should have (``optimiser.runners.timeslots``)."""
    return _optimiser_runner("timeslots", payload, store)


DEFAULT_RUNNERS: Mapping[str, JobRunner] = {
    "footage": pipeline_runner,
    "placement": placement_runner,
    "timeslots": timeslots_runner,
}


class JobQueue:
    """Jobs of several kinds; ``runners`` maps a kind to what runs it.

    A footage job's input is (``source``, ``site``); an optimiser job's input is its
    request, kept in the ``site`` column (the job's JSON input).
    """

    def __init__(
        self,
        store: Store,
        runners: Mapping[str, JobRunner] | None = None,
        *,
        lease_s: float = 60.0,
        footage: FootagePolicy | None = None,
    ) -> None:
        self.store = store
        self.runners = {**DEFAULT_RUNNERS, **(runners or {})}
        self.lease_ms = int(lease_s * 1000)
        self.footage = footage
        self.worker_id = uuid.uuid4().hex  # this queue's name on the leases it holds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- API side ------------------------------------------------------------------

    def submit(self, source: str, site: Mapping[str, Any], kind: str = "footage") -> Job:
        """Queue a job of ``kind`` on ``source`` with ``site`` and wake a worker; returns it queued."""
        row = {
            "job_id": time_ordered_id(),  # ties in submitted_ms keep submission order
            "kind": kind,
            "source": source,
            "site": dict(site),
            "status": JobStatus.QUEUED,
            "progress": 0.0,
            "error": None,
            "result": None,
            "submitted_ms": now_ms(),
            "started_ms": None,
            "finished_ms": None,
        }
        with self.store.engine.begin() as conn:
            conn.execute(jobs.insert().values(**row))
        self._wake.set()
        return _job(row)

    def get(self, job_id: str) -> Job | None:
        """A job by id, or None."""
        with self.store.engine.connect() as conn:
            r = conn.execute(select(jobs).where(jobs.c.job_id == job_id)).mappings().first()
        return None if r is None else _job(dict(r))

    def list(self, status: JobStatus | None = None, limit: int = 100) -> list[Job]:
        """The newest ``limit`` jobs, of one status when given."""
        q = select(jobs).order_by(jobs.c.submitted_ms.desc()).limit(limit)
        if status is not None:
            q = q.where(jobs.c.status == status)
        with self.store.engine.connect() as conn:
            return [_job(dict(r)) for r in conn.execute(q).mappings()]

    # -- worker side ---------------------------------------------------------------

    def _claimable(self, now: int) -> Any:
        return or_(
            jobs.c.status == JobStatus.QUEUED,
            and_(jobs.c.status == JobStatus.RUNNING, jobs.c.lease_expires_ms < now),
        )

    def claim(self) -> Job | None:
        """Lease the oldest queued (or abandoned) job, or None; safe across processes."""
        now = now_ms()
        oldest = (
            select(jobs.c.job_id)
            .where(self._claimable(now))
            .order_by(jobs.c.submitted_ms, jobs.c.job_id)
            .limit(1)
        )
        values = {
            "status": JobStatus.RUNNING,
            "started_ms": now,
            "progress": 0.0,
            "lease_owner": self.worker_id,
            "lease_expires_ms": now + self.lease_ms,
        }
        with self.store.engine.begin() as conn:
            if self.store.dialect == "postgresql":
                jid = conn.execute(oldest.with_for_update(skip_locked=True)).scalar()
                if jid is None:
                    return None
                conn.execute(update(jobs).where(jobs.c.job_id == jid).values(**values))
            else:
                jid = conn.execute(
                    update(jobs)
                    .where(jobs.c.job_id == oldest.scalar_subquery(), self._claimable(now))
                    .values(**values)
                    .returning(jobs.c.job_id)
                ).scalar()
                if jid is None:
                    return None
        return self.get(jid)

    def renew(self, job_id: str) -> bool:
        """Extend this worker's lease on a job; False if the lease was lost."""
        with self.store.engine.begin() as conn:
            res = conn.execute(
                update(jobs)
                .where(jobs.c.job_id == job_id, jobs.c.lease_owner == self.worker_id)
                .where(jobs.c.status == JobStatus.RUNNING)
                .values(lease_expires_ms=now_ms() + self.lease_ms)
            )
        return res.rowcount == 1

    def _set(self, job_id: str, **values: Any) -> None:
        """Update a job this worker holds (a lost lease changes nothing)."""
        with self.store.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.job_id == job_id, jobs.c.lease_owner == self.worker_id)
                .values(**values)
            )

    def run_one(self) -> Job | None:
        """Claim and run one job to its end; return it as finished, None if none queued."""
        job = self.claim()
        if job is None:
            return None

        def progress(p: float) -> None:
            self._set(job.job_id, progress=max(0.0, min(1.0, float(p))))

        done = threading.Event()

        def keep_lease() -> None:
            while not done.wait(self.lease_ms / 3000):
                if not self.renew(job.job_id):
                    log.error("job %s: lease lost to another worker", job.job_id)
                    return

        keeper = threading.Thread(target=keep_lease, name=f"lease-{job.job_id[:8]}", daemon=True)
        keeper.start()
        scratch = None
        try:
            runner = self.runners.get(job.kind)
            if runner is None:
                raise ValueError(f"no runner for jobs of kind {job.kind!r}")
            source = job.source
            if job.kind == "footage" and self.footage is not None:
                source, scratch = self.footage.open(job.source, job.job_id)
            result = runner(source, job.site, self.store, progress)
        except Exception as exc:  # a job's failure is data for its submitter, not a crash
            log.exception("job %s failed", job.job_id)
            values: dict[str, Any] = {
                "status": JobStatus.FAILED,
                "error": public_error(exc, source, job.source),
            }
        else:
            values = {"status": JobStatus.DONE, "progress": 1.0, "result": dict(result)}
        finally:
            done.set()
            keeper.join()
            if scratch is not None:  # uploaded or downloaded footage is not kept
                scratch.unlink(missing_ok=True)
        self._set(job.job_id, **values, finished_ms=now_ms(), lease_expires_ms=None)
        return self.get(job.job_id)

    def start(self, workers: int) -> None:
        """Start ``workers`` worker threads (jobs left by a dead process come back by lease)."""
        for n in range(workers):
            t = threading.Thread(target=self._work, name=f"job-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        self._wake.set()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_one()
            except Exception:  # the DB may be briefly unavailable; try again later
                log.exception("job worker error")
                ran = None
            if ran is None:
                self._wake.wait(timeout=2.0)
                self._wake.clear()

    def stop(self) -> None:
        """Stop the workers (waiting up to 1 s each; a job in progress is requeued at next start)."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=1.0)
