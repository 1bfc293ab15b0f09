"""Stage 2, validate: Great Expectations suites in PostgreSQL, quarantine, repeated records, Data Docs.

The package's modules: suites (the three entry points), gx_runner (running a suite document with GX),
quarantine, duplicates (the search for repeated records), results (outcomes, reports, their storage),
data_docs and data_docs_views (GX's Data Docs site), expectations (our GX expectations), config
(the contract's thresholds). Importing the package does not import GX: that waits for a suite to run.
"""

from tasks.validation.config import ValidationConfig
from tasks.validation.data_docs import DataDocs
from tasks.validation.results import (
    ExpectationOutcome,
    ValidationReport,
    raise_on_contract_failures,
    raise_on_unevaluated,
    store_outcomes,
)
from tasks.validation.suites import validate_features, validate_rows, validate_source_contract

__all__ = [
    "DataDocs",
    "ExpectationOutcome",
    "ValidationConfig",
    "ValidationReport",
    "raise_on_contract_failures",
    "raise_on_unevaluated",
    "store_outcomes",
    "validate_features",
    "validate_rows",
    "validate_source_contract",
]
