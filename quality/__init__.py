"""Great Expectations quality gates on the raw tables.

* :mod:`quality.tables`: ``RAW_TABLES``, every raw table that must have a gate (cheap to import);
* :mod:`quality.suites`: the expectation suites, one per raw table, as code;
* :mod:`quality.gates`: ``validate_table``, ``validate_schema`` and ``build_data_docs``, which run
  the suites on PostgreSQL and keep Data Docs under ``.local/great_expectations``.

Great Expectations takes several seconds to import, so this package does not import it: import
:mod:`quality.gates` where a gate runs.
"""

import logging
import os

from quality.tables import RAW_SCHEMAS, RAW_TABLES

# Before Great Expectations is first imported (by quality.gates): no usage statistics, and its
# loggers (which log every module they register at INFO) only speak up for warnings.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

__all__ = ["RAW_SCHEMAS", "RAW_TABLES"]
