{{ config(
    materialized='incremental',
    unique_key=['product_id', 'valid_from'],
    indexes=[{'columns': ['product_id', 'valid_from'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads only the raw rows of new loads and replaces the keys they carry
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with source as (
    select * from {{ source('erp', 'product_costs') }}
    {{ unread_loads() }}
),

deduplicated as (
    -- The ERP loader reads typed columns (date, numeric, timestamptz) and merges on
    -- (product_id, valid_from); the latest update wins should a key repeat.
    select distinct on (product_id, valid_from)
        *
    from source
    where product_id is not null
        and valid_from is not null
        {{ not_superseded({'product_id': 'lower(btrim(source.product_id))', 'valid_from': 'source.valid_from::date'}, row_alias='source') }}
    order by product_id, valid_from, updated_at desc nulls last, _dlt_load_id desc
),

final as (
    select
        lower(btrim(product_id)) as product_id,
        valid_from::date as valid_from,
        -- Exclusive end; null while the cost is current.
        valid_to::date as valid_to,
        unit_cost::numeric(14, 2) as unit_cost,
        coalesce(upper(nullif(btrim(currency), '')), 'BRL') as currency,
        updated_at::timestamptz at time zone 'UTC' as updated_at,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at,
        {{ built_at() }} as _built_at
    from deduplicated
)

select * from final
