{{ config(
    materialized='incremental',
    unique_key='refund_id',
    indexes=[{'columns': ['refund_id'], 'unique': True}, {'columns': ['order_id']}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads only the raw rows of new loads and replaces the refunds they carry
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with source as (
    select * from {{ source('erp', 'refunds') }}
    {{ unread_loads() }}
),

deduplicated as (
    -- The ERP loader reads typed columns and merges on refund_id; the latest update wins.
    select distinct on (refund_id)
        *
    from source
    where refund_id is not null
        {{ not_superseded({'refund_id': 'btrim(source.refund_id::text)'}, row_alias='source') }}
    order by refund_id, updated_at desc nulls last, _dlt_load_id desc
),

final as (
    select
        btrim(refund_id::text) as refund_id,
        lower(btrim(order_id)) as order_id,
        amount::numeric(14, 2) as refund_amount,
        refunded_at::timestamptz at time zone 'UTC' as refunded_at,
        lower(nullif(btrim(reason), '')) as refund_reason,
        updated_at::timestamptz at time zone 'UTC' as updated_at,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at,
        {{ built_at() }} as _built_at
    from deduplicated
)

select * from final
