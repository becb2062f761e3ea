{#- Small SQL functions the models share, created by on-run-start in the `util` schema.
    They turn raw text into typed values and return null instead of failing on malformed input,
    so one bad value never stops a build (the loaders quarantine unreadable rows before this). -#}
{% macro create_udfs() %}
create schema if not exists util;

create or replace function util.try_timestamp(value text) returns timestamp
language plpgsql immutable parallel safe as $$
begin
    if value is null or btrim(value) = '' then
        return null;
    end if;
    return value::timestamp;
exception when others then
    return null;
end;
$$;

create or replace function util.try_numeric(value text) returns numeric
language plpgsql immutable parallel safe as $$
begin
    if value is null or btrim(value) = '' then
        return null;
    end if;
    return value::numeric;
exception when others then
    return null;
end;
$$;
{% endmacro %}

{% macro try_timestamp(column) -%}
util.try_timestamp({{ column }})
{%- endmacro %}

{% macro try_numeric(column) -%}
util.try_numeric({{ column }})
{%- endmacro %}
