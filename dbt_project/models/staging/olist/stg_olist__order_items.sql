{{ config(materialized='table') }}
{#- A table, not a view: several models and tests read it, and at a million orders re-running
    its deduplication for each of them costs more than storing it once (DECISIONLOG.md). -#}

with source as (
    select * from {{ source('olist', 'order_items') }}
),

deduplicated as (
    select distinct on (lower(btrim(order_id)), {{ try_integer('order_item_id') }})
        *
    from source
    where nullif(btrim(order_id), '') is not null
        and {{ try_integer('order_item_id') }} is not null
    order by lower(btrim(order_id)), {{ try_integer('order_item_id') }}, _dlt_load_id desc, _source_row desc
),

final as (
    select
        lower(btrim(order_id)) as order_id,
        {{ try_integer('order_item_id') }}::integer as order_item_id,
        lower(btrim(product_id)) as product_id,
        lower(btrim(seller_id)) as seller_id,
        {{ try_timestamp('shipping_limit_date') }} as shipping_limit_at,
        {{ try_numeric('price') }}::numeric(14, 2) as price,
        coalesce({{ try_numeric('freight_value') }}, 0)::numeric(14, 2) as freight_value,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at
    from deduplicated
)

select * from final
