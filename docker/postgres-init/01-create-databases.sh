#!/bin/sh
# Databases beside the warehouse: Dagster's instance storage and the sandbox ERP.
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
create database ${DAGSTER_PG_DB:-dagster};
create database erp;
SQL
