{{ config(materialized='table') }}
{#- A table, not a view: several models and tests read it, and at a million orders re-running
    its deduplication for each of them costs more than storing it once (DECISIONLOG.md). -#}

with source as (
    select * from {{ source('olist', 'order_payments') }}
),

deduplicated as (
    select distinct on (lower(btrim(order_id)), {{ try_integer('payment_sequential') }})
        *
    from source
    where nullif(btrim(order_id), '') is not null
        and {{ try_integer('payment_sequential') }} is not null
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
        {{ dlt_loaded_at() }} as _loaded_at
    from deduplicated
)

select * from final
