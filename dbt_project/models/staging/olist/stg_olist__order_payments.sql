{{ config(
    materialized='incremental',
    unique_key=['order_id', 'payment_sequential'],
    indexes=[{'columns': ['order_id', 'payment_sequential'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads only the raw rows of new loads and replaces the keys they carry
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with source as (
    select * from {{ source('olist', 'order_payments') }}
    {{ unread_loads() }}
),

deduplicated as (
    select distinct on (lower(btrim(order_id)), {{ try_integer('payment_sequential') }})
        *
    from source
    where nullif(btrim(order_id), '') is not null
        and {{ try_integer('payment_sequential') }} is not null
        {{ not_superseded({'order_id': 'lower(btrim(source.order_id))', 'payment_sequential': try_integer('source.payment_sequential')}, row_alias='source') }}
    order by lower(btrim(order_id)), {{ try_integer('payment_sequential') }}, _dlt_load_id desc, _source_row desc
),

final as (
    select
        lower(btrim(order_id)) as order_id,
        {{ try_integer('payment_sequential') }}::integer as payment_sequential,
        coalesce(lower(nullif(btrim(payment_type), '')), 'not_defined') as payment_type,
        coalesce({{ try_integer('payment_installments') }}, 0)::integer as payment_installments,
        {{ try_numeric('payment_value') }}::numeric(14, 2) as payment_value,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at,
        {{ built_at() }} as _built_at
    from deduplicated
)

select * from final
