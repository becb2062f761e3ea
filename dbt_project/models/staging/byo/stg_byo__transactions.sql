{{ config(materialized='table') }}
{#- A table, not a view: hash_pii compiles its salt into the SQL, and a view's definition is
    readable by every role. -#}

with source as (
    select * from {{ source('byo', 'transactions') }}
),

final as (
    select
        md5(coalesce(_source_file, '') || ':' || coalesce(_source_row::text, '')) as transaction_id,
        {{ hash_pii('customer_id') }} as customer_unique_id,
        nullif(btrim(order_id::text), '') as order_id,
        {{ try_timestamp('purchased_at') }} as purchased_at,
        {{ try_numeric('amount') }}::numeric(14, 2) as amount,
        coalesce({{ try_integer('quantity') }}, 1) as quantity,
        coalesce(upper(nullif(btrim(currency), '')), 'BRL') as currency,
        _source_file,
        _source_row,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at
    from source
    where nullif(btrim(customer_id::text), '') is not null
)

select * from final
