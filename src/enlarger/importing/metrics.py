"""``/metrics`` for bulk import: jobs and the objects of running jobs, by state.

Read from the catalog at scrape time rather than counted in the process: the catalog is the one
truth every replica shares (a job led by one replica and helped by others is counted once), and
a restart loses nothing. Every known state is reported, zero included, so a dashboard's series
exist before the first job.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from enlarger.importing.jobs import ACTIVE, DONE, FAILED, FINISHED, PENDING, SKIPPED, JobStore

JOB_STATES = (ACTIVE, *FINISHED)
OBJECT_STATES = (PENDING, DONE, SKIPPED, FAILED)


class ImportMetrics(Collector):
    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs

    def collect(self) -> Iterator[Metric]:
        jobs, objects = self.jobs.state_counts()
        by_job = GaugeMetricFamily("enlarger_import_jobs", "Import jobs by state", labels=["state"])
        for state in sorted(set(JOB_STATES) | set(jobs)):
            by_job.add_metric([state], jobs.get(state, 0))
        yield by_job
        by_object = GaugeMetricFamily(
            "enlarger_import_objects", "Objects of running import jobs by state", labels=["state"]
        )
        for state in sorted(set(OBJECT_STATES) | set(objects)):
            by_object.add_metric([state], objects.get(state, 0))
        yield by_object
