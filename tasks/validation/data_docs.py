"""Great Expectations Data Docs: a run's site, built in the background, and where GX keeps what it lists.

The site's pages come from GX's views on templates compiled once per process
(tasks/validation/data_docs_views.py). Those views import GX, so they live in a module of their own that
GX imports by name when it builds (VIEWS_MODULE): importing this one stays light.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tasks.db.parallel import BackgroundJobs

# GX loads the site's view classes from this module, by name, when it builds a page.
VIEWS_MODULE = "tasks.validation.data_docs_views"


class DataDocs(BackgroundJobs):
    """A run's Great Expectations Data Docs site (`directory`/index.html) and the GX stores beside it.

    Each suite's pages are built in a background thread while the run goes on: a build renders GX's page
    templates, Python work per suite whatever the number of customers, that no stage needs. The index,
    which lists every suite of every run kept (its build reads them all, so it grows with the results
    stored), is built once per run, after the run's suites (`build_index`, or else by `wait`), once the
    validations beyond each suite's newest `keep_runs` are deleted (`prune`). One thread, so builds of the
    one site never overlap (tasks.db.parallel.BackgroundJobs: `wait()` returns once every build submitted has
    finished, and raises the first one's error; leaving a `with` block waits too).
    """

    def __init__(self, directory: Path, keep_runs: int = 30) -> None:
        super().__init__("building the Data Docs")
        self.directory = directory
        self.keep_runs = keep_runs
        # The latest suite's pages, held back so that they are built with the index if it is the run's last.
        self._latest: tuple[Any, list] | None = None

    @property
    def index(self) -> Path:
        return self.directory / "index.html"

    def build(self, context: Any, resources: list) -> None:
        """Build (in the background) the pages of `resources`: earlier runs' pages are on disk already."""
        self._submit_latest(with_index=False)
        self._latest = (context, resources)

    def build_index(self) -> None:
        """Build (in the background) the index, with the pages of the latest suite."""
        self._submit_latest(with_index=True)

    def _submit_latest(self, *, with_index: bool) -> None:
        if self._latest is not None:
            context, resources = self._latest
            if with_index:
                self.submit(self.prune)
            self.submit(context.build_data_docs, site_names=["local"], resource_identifiers=resources,
                        build_index=with_index)
            self._latest = None

    def prune(self) -> int:
        """Delete each suite's stored validations beyond its newest `keep_runs`, with their pages; returns how
        many. A validation is a directory named by its run time (GX's store: suite/run name/run time/)."""
        stores = gx_stores_dir(self.directory) / "validations"
        runs_by_suite: dict[Path, set[Path]] = {}
        for result in stores.rglob("*.json"):
            runs_by_suite.setdefault(result.parent.parent, set()).add(result.parent)
        pruned = 0
        for runs in runs_by_suite.values():
            for run in sorted(runs, key=lambda path: path.name)[:-self.keep_runs]:
                shutil.rmtree(run)
                shutil.rmtree(self.directory / "validations" / run.relative_to(stores), ignore_errors=True)
                pruned += 1
        return pruned

    def wait(self) -> list[Any]:
        self.build_index()
        return super().wait()


def gx_stores_dir(docs_dir: Path) -> Path:
    """Where GX keeps the suites and validation results a Data Docs site lists: beside the site."""
    return docs_dir.parent / "gx_stores"


def keep_on_disk_with_site(config: Any, docs_dir: Path) -> None:
    """Make a GX DataContextConfig keep its suites and validation results on disk beside `docs_dir`
    (gx_stores/), so that the Data Docs index lists every suite of every run, as a GX project's does, and
    not only the suite that built the site last; and give it the site "local" in `docs_dir`."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    stores_dir = gx_stores_dir(docs_dir)
    for store, directory in (("expectations_store", "expectations"),
                             ("validation_results_store", "validations")):
        config.stores[store]["store_backend"] = {"class_name": "TupleFilesystemStoreBackend",
                                                 "base_directory": str(stores_dir / directory)}
    config.data_docs_sites = {"local": {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        # GX's views on templates compiled once per process; no profiling section: the pipeline stores no
        # profiling results for it to list.
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": {
            "module_name": VIEWS_MODULE, "class_name": "CachedJinjaIndexPageView"}},
        "site_section_builders": {
            **{section: {"view": {"module_name": VIEWS_MODULE, "class_name": "CachedJinjaPageView"}}
               for section in ("expectations", "validations")},
            "profiling": "False"}}}
