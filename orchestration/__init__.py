"""Dagster definitions: assets, checks, schedules, sensors and resources for the warehouse."""

import warehouse  # noqa: F401  (process-wide defaults, such as one BLAS thread, before numpy loads)
