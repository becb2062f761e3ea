{{ config(
    materialized='incremental',
    unique_key='lead_id',
    indexes=[{'columns': ['lead_id'], 'unique': True}, {'columns': ['customer_unique_id']}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads only the raw rows of new loads and replaces the keys they carry
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with source as (
    select * from {{ source('marketing', 'leads') }}
    {{ unread_loads() }}
),

typed as (
    select
        btrim(lead_id) as lead_id,
        btrim(channel_id) as channel_id,
        nullif(btrim(campaign_id), '') as campaign_id,
        {{ try_timestamp_utc('created_at') }} as created_at,
        {{ try_timestamp_utc('converted_at') }} as converted_at,
        lower(nullif(btrim(customer_unique_id), '')) as customer_unique_id,
        {{ try_timestamp_utc('updated_at') }} as updated_at,
        _dlt_load_id
    from source
    where nullif(btrim(lead_id), '') is not null
        {{ not_superseded({'lead_id': 'btrim(source.lead_id)'}, row_alias='source') }}
),

deduplicated as (
    -- The loader merges on lead_id; the latest update wins here too.
    select distinct on (lead_id)
        *
    from typed
    order by lead_id, updated_at desc nulls last, _dlt_load_id desc
),

final as (
    select
        lead_id,
        channel_id,
        campaign_id,
        created_at,
        converted_at,
        customer_unique_id,
        converted_at is not null as is_converted,
        updated_at,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at,
        {{ built_at() }} as _built_at
    from deduplicated
)

select * from final
