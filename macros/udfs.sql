{#- Warehouse set-up run by on-run-start (dbt_project.yml calls create_udfs()):
    1. the `util` schema with try_timestamp/try_numeric, SQL functions for ad-hoc use in psql;
    2. session defaults for the role dbt runs as (tune_role_settings, below);
    3. the project's roles and schema privileges (create_roles(), macros/roles.sql), because the
       marts' `grants:` config needs the `analyst` role to exist before the first model is built.
       Set the var `manage_roles: false` where dbt runs without the right to create roles.

    Models do not call the util functions: the macros below expand to inline casts guarded by
    pg_input_is_valid() (PostgreSQL 16+), which is set-based and about 20x cheaper than a plpgsql
    function with an exception handler (one subtransaction per value). -#}
{% macro create_udfs() %}
create schema if not exists util;

create or replace function util.try_timestamp(value text) returns timestamp
language sql stable parallel safe as $$
    select {{ try_timestamp('value') }}
$$;

create or replace function util.try_numeric(value text) returns numeric
language sql immutable parallel safe as $$
    select {{ try_numeric('value') }}
$$;

{% if var('manage_roles', true) %}
{{ create_roles() }}
{% endif %}

{{ tune_role_settings() }}
{% endmacro %}

{#- Casts that return null instead of failing on a malformed value, so one bad value never stops a
    build (the loaders quarantine unreadable rows before this). They use pg_input_is_valid()
    (PostgreSQL 16+), which checks a value the way the cast would without raising: about 1 µs a
    value, against 4 µs for a regular expression and far more for a plpgsql exception handler. -#}
{% macro try_cast(column, type) -%}
case when pg_input_is_valid({{ column }}::text, '{{ type }}') then ({{ column }}::text)::{{ type }} end
{%- endmacro %}

{#- Timestamps and dates must start with a four-digit year and a dash: PostgreSQL would also accept
    'now', 'today', 'infinity' or a day-month order that depends on DateStyle. -#}
{% macro try_timestamp(column) -%}
case
    when substr(ltrim({{ column }}::text), 5, 1) = '-' and pg_input_is_valid({{ column }}::text, 'timestamp')
        then ({{ column }}::text)::timestamp
end
{%- endmacro %}

{#- Timestamps that may carry an offset (APIs): converted to UTC and stored without a time zone. -#}
{% macro try_timestamp_utc(column) -%}
case
    when substr(ltrim({{ column }}::text), 5, 1) = '-' and pg_input_is_valid({{ column }}::text, 'timestamptz')
        then ({{ column }}::text)::timestamptz at time zone 'UTC'
end
{%- endmacro %}

{% macro try_date(column) -%}
case
    when substr(ltrim({{ column }}::text), 5, 1) = '-' and pg_input_is_valid({{ column }}::text, 'timestamp')
        then ({{ column }}::text)::timestamp::date
end
{%- endmacro %}

{#- Numbers: 'NaN' and 'Infinity' (and 'inf') are valid numerics to PostgreSQL; every one of them
    contains an n, which no decimal or scientific notation does. -#}
{% macro try_numeric(column) -%}
case
    when pg_input_is_valid({{ column }}::text, 'numeric') and strpos(lower({{ column }}::text), 'n') = 0
        then ({{ column }}::text)::numeric
end
{%- endmacro %}

{% macro try_integer(column) -%}
case when pg_input_is_valid({{ column }}::text, 'bigint') then ({{ column }}::text)::bigint end
{%- endmacro %}

{#- tune_role_settings(): session defaults for the role dbt connects as, in this database only
    (`alter role current_user in database ... set`), taken by every later connection - dbt opens
    one per node. From the var `dbt_role_settings` (default jit off, work_mem 128MB): JIT
    compilation costs 0.5-3 s on each large analytical query and never paid back here, and 4MB
    of work_mem made every sort of a few hundred thousand rows spill to disk. A role may change
    its own defaults, so this needs no privilege; set the var to {} to leave the role alone. -#}
{% macro tune_role_settings() %}
{%- for name, value in var('dbt_role_settings', {}).items() %}
alter role current_user in database {{ target.database }} set {{ name }} = '{{ value }}';
{%- endfor %}
{% endmacro %}
