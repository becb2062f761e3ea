{#- Small SQL helpers shared by the models. -#}

{#- When dlt loaded a row: dlt's load id is the load's start as Unix seconds ("1731672841.0721"). -#}
{% macro dlt_loaded_at(column='_dlt_load_id') -%}
(to_timestamp({{ try_numeric(column) }}) at time zone 'UTC')
{%- endmacro %}

{#- numerator / denominator, null when the denominator is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
({{ numerator }})::numeric / nullif(({{ denominator }})::numeric, 0)
{%- endmacro %}

{#- Whole calendar months from the month of `start_date` to the month of `end_date`. -#}
{% macro months_between(start_date, end_date) -%}
(
    (extract(year from {{ end_date }})::int - extract(year from {{ start_date }})::int) * 12
    + (extract(month from {{ end_date }})::int - extract(month from {{ start_date }})::int)
)
{%- endmacro %}

{#- The growth of `value` against `previous`, as a fraction (0.1 = +10 %); null without a base. -#}
{% macro growth(value, previous) -%}
round(({{ value }} - {{ previous }})::numeric / nullif({{ previous }}, 0)::numeric, 4)
{%- endmacro %}

{#- Order statuses that do not count as a sale (revenue, RFM, cohorts): var excluded_order_statuses. -#}
{% macro excluded_order_statuses_sql() -%}
({%- for status in var('excluded_order_statuses') -%}'{{ status }}'{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}

{#- The cleaned form of a free-text label for grouping spellings: lower case, no accents, single spaces. -#}
{% macro normalize_text(column) -%}
nullif(
    regexp_replace(
        translate(
            lower(btrim({{ column }})),
            'áàâãäéèêëíìîïóòôõöúùûüçñÁÀÂÃÄÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑ''',
            'aaaaaeeeeiiiiooooouuuucnaaaaaeeeeiiiiooooouuuucn '
        ),
        '\s+', ' ', 'g'
    ),
    ''
)
{%- endmacro %}

{#- A 5-digit zip-code prefix as text with its leading zeros ("1310" -> "01310"); null otherwise. -#}
{% macro zip_code_prefix(column) -%}
case
    when length(btrim({{ column }}::text)) between 1 and 5
        and translate(btrim({{ column }}::text), '0123456789', '') = ''
        then lpad(btrim({{ column }}::text), 5, '0')
end
{%- endmacro %}

{#- Post-hook: fresh planner statistics for a table just built, so the models built on it next are
    planned with real row counts (autovacuum would analyze it only later). No-op for views.
    An incremental model is analyzed when it has no statistics yet (first build, full refresh)
    or when autovacuum would analyze it (more than 50 + 10% of its rows changed since the last
    analyze): a run that rewrites 1% of a million rows keeps the statistics and skips a second
    or so per table. -#}
{% macro analyze_if_table() -%}
{%- if model.config.materialized == 'table' -%}
analyze {{ this }}
{%- elif model.config.materialized == 'incremental' -%}
do $analyze$
begin
    if not exists (
        select 1 from pg_stats
        where schemaname = '{{ this.schema }}' and tablename = '{{ this.identifier }}'
    ) or exists (
        select 1
        from pg_stat_user_tables as stats
        inner join pg_class as class
            on class.oid = stats.relid
        where stats.schemaname = '{{ this.schema }}' and stats.relname = '{{ this.identifier }}'
            and stats.n_mod_since_analyze > 50 + 0.1 * greatest(class.reltuples, 0)
    ) then
        analyze {{ this }};
    end if;
end
$analyze$
{%- endif -%}
{%- endmacro %}

{#- `relation` if it exists in the database, else none: for a model that reads a table another tool
    writes (the CLV step's source `clv`), so the model still builds before that tool first runs. A
    unit test's fixture (a CTE) counts as existing. Always none at parse time. -#}
{% macro existing_relation(relation) -%}
{%- if not execute -%}
{{ return(none) }}
{%- elif relation.is_cte -%}
{{ return(relation) }}
{%- endif -%}
{{ return(load_relation(relation)) }}
{%- endmacro %}
