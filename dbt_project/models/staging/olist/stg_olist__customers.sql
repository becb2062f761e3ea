{{ config(materialized='table') }}
{#- A table, not a view: several models and tests read it, and at a million orders re-running
    its deduplication for each of them costs more than storing it once (DECISIONLOG.md). -#}

with source as (
    select * from {{ source('olist', 'customers') }}
),

deduplicated as (
    select distinct on (lower(btrim(customer_id)))
        *
    from source
    where nullif(btrim(customer_id), '') is not null
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
        {{ dlt_loaded_at() }} as _loaded_at
    from deduplicated
)

select * from final
