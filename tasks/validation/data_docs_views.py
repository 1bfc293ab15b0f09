"""Great Expectations' Data Docs page views, with their Jinja templates compiled once per process.

GX builds a new Jinja environment for every page view it creates (one per site section, every build), so
each build of a run's pages parsed and compiled the same 34 templates again, most of a build's time,
three or four builds a run. These views share a bytecode cache (Jinja's own mechanism: a template whose
source changed is compiled anew), so only a process's first build compiles. The site configuration in
tasks/validation/data_docs.py names this module (VIEWS_MODULE) for GX to import when it builds: it
imports GX, so it stays out of data_docs.py, which the package imports.
"""

from __future__ import annotations

import threading
from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class _CompiledTemplates(BytecodeCache):
    """Compiled templates in memory, by Jinja's bucket key (template name and source checksum)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()  # builds of different sites may run in threads at once

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


COMPILED_TEMPLATES = _CompiledTemplates()


class CachedJinjaPageView(DefaultJinjaPageView):
    """GX's page view (suites and validation results) on the shared compiled templates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED_TEMPLATES


class CachedJinjaIndexPageView(DefaultJinjaIndexPageView):
    """GX's index page view on the shared compiled templates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED_TEMPLATES
