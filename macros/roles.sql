{#- create_roles(): the project's three group roles and their privileges, idempotent.

    analyst      read-only: USAGE on the schema marts; SELECT on each mart comes from the models'
                 `grants:` config. No privilege on raw_*, staging, intermediate, reference or util.
    loader       the dlt pipelines: USAGE and CREATE on the raw_* schemas (and read/write on raw
                 tables another role created there, e.g. an earlier load as postgres); nothing else.
                 dlt alters the tables it owns, so a server deployment should load as loader from
                 the first load on.
    transformer  dbt: reads raw_* (USAGE, SELECT, also on tables the loader creates later) and
                 creates in staging, intermediate, marts, reference (seeds) and util (functions).

    The roles are NOLOGIN groups: people and services log in with their own role made a member, e.g.
    `create role alice login password '...' in role analyst`. Roles are cluster-wide, hence the
    existence checks (and the duplicate_object handlers, for two builds starting at once).
    Runs from on-run-start (see create_udfs), where it returns the SQL for the hook to run, or as
    `dbt run-operation create_roles`, where it runs it; it needs a role with CREATEROLE that owns
    (or is superuser over) the schemas. -#}
{% macro create_roles() %}
{%- set statements = _create_roles_sql() -%}
{%- if flags.WHICH == 'run-operation' -%}
    {%- do run_query(statements) -%}
    {%- do log('create_roles: analyst, loader and transformer roles and their privileges are in place', info=true) -%}
{%- else -%}
    {{ statements }}
{%- endif -%}
{% endmacro %}

{% macro _create_roles_sql() %}
{%- set raw_schemas = var('raw_schemas') -%}
{%- set model_schemas = ['staging', 'intermediate', 'marts', 'reference', 'util'] -%}
do $roles$
begin
    {%- for role in ['analyst', 'loader', 'transformer'] %}
    if not exists (select from pg_catalog.pg_roles where rolname = '{{ role }}') then
        begin
            create role {{ role }} nologin;
        exception when duplicate_object or unique_violation then null;
        end;
    end if;
    {%- endfor %}
    {%- for schema in raw_schemas + model_schemas %}
    begin
        create schema if not exists {{ schema }};
    exception when duplicate_schema or unique_violation then null;
    end;
    {%- endfor %}
end
$roles$;

{% for schema in raw_schemas -%}
grant usage, create on schema {{ schema }} to loader;
grant select, insert, update, delete, truncate on all tables in schema {{ schema }} to loader;
alter default privileges in schema {{ schema }} grant select, insert, update, delete, truncate on tables to loader;
grant usage on schema {{ schema }} to transformer;
grant select on all tables in schema {{ schema }} to transformer;
alter default privileges in schema {{ schema }} grant select on tables to transformer;
alter default privileges for role loader in schema {{ schema }} grant select on tables to transformer;
revoke all on schema {{ schema }} from analyst;
{% endfor %}
{% for schema in model_schemas -%}
grant usage, create on schema {{ schema }} to transformer;
{% endfor %}
grant execute on all functions in schema util to transformer;
revoke all on schema staging, intermediate, reference, util from analyst;
grant usage on schema marts to analyst;
{% endmacro %}
