{{ config(
    materialized='incremental',
    unique_key=['order_id', 'order_item_id'],
    indexes=[{'columns': ['order_id', 'order_item_id'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads only the raw rows of new loads and replaces the keys they carry
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with source as (
    select * from {{ source('olist', 'order_items') }}
    {{ unread_loads() }}
),

deduplicated as (
    select distinct on (lower(btrim(order_id)), {{ try_integer('order_item_id') }})
        *
    from source
    where nullif(btrim(order_id), '') is not null
        and {{ try_integer('order_item_id') }} is not null
        {{ not_superseded({'order_id': 'lower(btrim(source.order_id))', 'order_item_id': try_integer('source.order_item_id')}, row_alias='source') }}
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
        {{ dlt_loaded_at() }} as _loaded_at,
        {{ built_at() }} as _built_at
    from deduplicated
)

select * from final
