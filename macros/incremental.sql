{#- Incremental models: how a run finds what changed since the model was last built.

    Staging reads raw tables by dlt load: `unread_loads()` keeps the raw rows of loads the model
    has not read yet (their load ids are not among the model's rows), whatever order the loads
    committed in, so a package dlt finishes late (left pending by a failed run) is still read.
    Every incremental model stamps the rows it writes with `_built_at`, the time of the build;
    a model downstream takes the rows of its inputs stamped after its own latest stamp
    (`built_since_last_run()`), works out the keys they affect (an order, a person, a month) and
    rebuilds just those. See DECISIONLOG.md "Incremental builds". -#}

{#- The build's time, stored on every row an incremental model writes. -#}
{% macro built_at() -%}
transaction_timestamp()
{%- endmacro %}

{#- Filter for a raw source read by an incremental staging model: the rows of dlt loads the model
    has not read yet. Nothing on a full build. -#}
{% macro unread_loads(load_id_column='_dlt_load_id') -%}
{%- if is_incremental() %}
where {{ load_id_column }} not in (
    select distinct read_loads.{{ load_id_column }}
    from {{ this }} as read_loads
    where read_loads.{{ load_id_column }} is not null
)
{%- endif %}
{%- endmacro %}

{#- Condition for a staging model's deduplicated rows: on an incremental build, skip a row when the
    model already holds the key from a later load (a raw table loaded by some other means than
    dlt's merge can hold the same key from several loads; a full build keeps the latest). `keys`
    maps the model's key columns to the expressions that compute them from the row. -#}
{% macro not_superseded(keys, load_id_column='_dlt_load_id', row_alias='') -%}
{%- if is_incremental() -%}
and not exists (
    select 1
    from {{ this }} as built
    where {% for column, expression in keys.items() -%}
        built.{{ column }} = {{ expression }} and {% endfor -%}
        built.{{ load_id_column }} > {{ row_alias ~ '.' if row_alias }}{{ load_id_column }}
)
{%- endif -%}
{%- endmacro %}

{#- Condition on an input relation's rows: stamped after the latest row this model wrote. On a full
    build every row passes. The latest stamp stays a subquery: PostgreSQL then guesses that a third
    of the input passes and plans hash joins, a few seconds at 1M orders whatever changed. Written
    as a literal (tried), the stamp let it see from stale statistics that almost no row passes, and
    with a week's 25k changed orders its nested loops took fct_orders from 3 s to 60 s. -#}
{% macro built_since_last_run(alias='') -%}
{%- if is_incremental() -%}
{{ alias ~ '.' if alias }}_built_at > (
    select coalesce(max(latest_built._built_at), '-infinity'::timestamptz) from {{ this }} as latest_built
)
{%- else -%}
true
{%- endif -%}
{%- endmacro %}

{#- Query for the keys this model holds whose rows its input no longer holds (an order dlt's merge
    replaced with a version that the input filters out, a person whose orders all moved away):
    `key` is selected, `match` (default `key`) is the column looked up in `input`, and `held_filter`
    is a condition on this model's rows, alias `held`. -#}
{% macro keys_gone_from(input, key, match=none, held_filter=none) -%}
{%- set match = match or key -%}
select held.{{ key }}
from {{ this }} as held
where {% if held_filter %}{{ held_filter }}
    and {% endif %}not exists (
        select 1 from {{ input }} as input_rows where input_rows.{{ match }} = held.{{ match }}
    )
{%- endmacro %}

{#- Query for the keys to rebuild when a model keeps one row per `key` of `input`, `input` being an
    incremental model with the same key: the keys `input` rewrote since this model's last build,
    and the keys this model holds that `input` no longer holds. -#}
{% macro rewritten_or_gone_keys(input, key) -%}
select changed.{{ key }}
from {{ input }} as changed
where {{ built_since_last_run('changed') }}
union
{{ keys_gone_from(input, key) }}
{%- endmacro %}

{#- The incremental strategy `replace_keys`: the model's rows for a set of keys are replaced by what
    the build selected for them, and a key that selects no row any more (an order whose new
    version has no valid purchase date) loses its rows. The model's incremental SQL ends with
    `select_replacing_keys()`, which gives such a key one row with a null `_built_at`: it is
    deleted with the others and not inserted. -#}
{% macro get_incremental_replace_keys_sql(arg_dict) -%}
{%- set target = arg_dict['target_relation'] -%}
{%- set source = arg_dict['temp_relation'] -%}
{%- set key = arg_dict['unique_key'] -%}
{%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
delete from {{ target }}
where {{ key }} in (select {{ key }} from {{ source }});

insert into {{ target }} ({{ columns }})
select {{ columns }}
from {{ source }}
where _built_at is not null
{%- endmacro %}

{#- The last select of a `replace_keys` model: on a full build the rows of `rows`; on an incremental
    one, every key of `changed` with its rows in `rows`, or one row with only the key when it has
    none any more. The columns are the table's (one lacking a new column is first rebuilt whole:
    macros/full_refresh.sql). -#}
{% macro select_replacing_keys(rows, changed, key) -%}
{%- if is_incremental() -%}
{%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
select
    {%- for column in columns %}
    {% if column == key %}{{ changed }}.{{ key }}{% else %}{{ rows }}.{{ adapter.quote(column) }}{% endif %} as {{ adapter.quote(column) }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ changed }}
left join {{ rows }}
    on {{ rows }}.{{ key }} = {{ changed }}.{{ key }}
{%- else -%}
select * from {{ rows }}
{%- endif -%}
{%- endmacro %}

{#- The as-of date of each transaction source, for the views that add it to incremental rows
    (int_customer_transactions_unioned, int_customers_summarized): var rfm_as_of_date, or the
    source's latest sale, `max(latest_column)` in `relation` (an index lookup there). Use it as a
    `materialized` CTE: inlined, PostgreSQL would compute the max once per row. -#}
{% macro as_of_dates(relation, latest_column) -%}
select
    sources.transaction_source,
    {%- if var('rfm_as_of_date') %}
    '{{ var("rfm_as_of_date") }}'::date as as_of_date
    {%- else %}
    (
        select max(latest.{{ latest_column }})
        from {{ relation }} as latest
        where latest.transaction_source = sources.transaction_source
    )::date as as_of_date
    {%- endif %}
from (
    select distinct sources_seen.transaction_source
    from {{ relation }} as sources_seen
) as sources
{%- endmacro %}
