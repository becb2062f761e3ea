{{ config(
    materialized='incremental',
    unique_key='customer_id',
    indexes=[{'columns': ['customer_id'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads only the raw rows of new loads and replaces the keys they carry
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with source as (
    select * from {{ source('olist', 'customers') }}
    {{ unread_loads() }}
),

deduplicated as (
    select distinct on (lower(btrim(customer_id)))
        *
    from source
    where nullif(btrim(customer_id), '') is not null
        {{ not_superseded({'customer_id': 'lower(btrim(source.customer_id))'}, row_alias='source') }}
    order by lower(btrim(customer_id)), _dlt_load_id desc, _source_row desc
),

final as (
    select
        lower(btrim(customer_id)) as customer_id,
        lower(btrim(customer_unique_id)) as customer_unique_id,
        {{ zip_code_prefix('customer_zip_code_prefix') }} as customer_zip_code_prefix,
        nullif(btrim(customer_city), '') as customer_city,
        upper(btrim(customer_state)) as customer_state,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at,
        {{ built_at() }} as _built_at
    from deduplicated
)

select * from final
