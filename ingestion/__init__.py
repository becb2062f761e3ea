"""dlt sources and pipelines that load the raw sources into PostgreSQL. Runnable without Dagster."""
