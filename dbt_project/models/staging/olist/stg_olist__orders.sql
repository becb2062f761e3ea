{{ config(materialized='table') }}
{#- A table, not a view: several models and tests read it, and at a million orders re-running
    its deduplication for each of them costs more than storing it once (DECISIONLOG.md). -#}

with source as (
    select * from {{ source('olist', 'orders') }}
),

deduplicated as (
    -- The loader merges on order_id; this guards against a table loaded some other way.
    -- A later load carries a status change and wins.
    select distinct on (lower(btrim(order_id)))
        *
    from source
    where nullif(btrim(order_id), '') is not null
    order by lower(btrim(order_id)), _dlt_load_id desc, _source_row desc
),

final as (
    select
        lower(btrim(order_id)) as order_id,
        lower(btrim(customer_id)) as customer_id,
        lower(btrim(order_status)) as order_status,
        {{ try_timestamp('order_purchase_timestamp') }} as purchased_at,
        {{ try_timestamp('order_approved_at') }} as approved_at,
        {{ try_timestamp('order_delivered_carrier_date') }} as delivered_to_carrier_at,
        {{ try_timestamp('order_delivered_customer_date') }} as delivered_to_customer_at,
        {{ try_timestamp('order_estimated_delivery_date') }} as estimated_delivery_at,
        _source_file,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at
    from deduplicated
)

select * from final
