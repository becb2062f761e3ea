"""Dagster definitions: assets, checks, schedules, sensors and resources for the warehouse."""
