{{ config(materialized='table') }}
{#- A table, not a view: several models and tests read it, and at a million orders re-running
    its deduplication for each of them costs more than storing it once (DECISIONLOG.md). -#}

with source as (
    select * from {{ source('erp', 'product_costs') }}
),

deduplicated as (
    -- The ERP loader reads typed columns (date, numeric, timestamptz) and merges on
    -- (product_id, valid_from); the latest update wins should a key repeat.
    select distinct on (product_id, valid_from)
        *
    from source
    where product_id is not null
        and valid_from is not null
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
        {{ dlt_loaded_at() }} as _loaded_at
    from deduplicated
)

select * from final
