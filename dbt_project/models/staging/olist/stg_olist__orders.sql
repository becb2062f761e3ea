{{ config(
    materialized='incremental',
    unique_key='order_id',
    indexes=[{'columns': ['order_id'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads only the raw rows of new loads and replaces the orders they carry
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with source as (
    select * from {{ source('olist', 'orders') }}
    {{ unread_loads() }}
),

deduplicated as (
    -- The loader merges on order_id; this guards against a table loaded some other way.
    -- A later load carries a status change and wins.
    select distinct on (lower(btrim(order_id)))
        *
    from source
    where nullif(btrim(order_id), '') is not null
        {{ not_superseded({'order_id': 'lower(btrim(source.order_id))'}, row_alias='source') }}
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
        {{ dlt_loaded_at() }} as _loaded_at,
        {{ built_at() }} as _built_at
    from deduplicated
)

select * from final
