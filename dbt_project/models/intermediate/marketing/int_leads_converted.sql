{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='customer_unique_id',
    indexes=[{'columns': ['customer_unique_id'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Incremental by person: a run recomputes the first touch of the people whose leads changed
    since the last build (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with
{%- if is_incremental() %}
changed_people as (
    select distinct changed.customer_unique_id
    from {{ ref('stg_marketing__leads') }} as changed
    where {{ built_since_last_run('changed') }}
        and changed.customer_unique_id is not null
),
{%- endif %}

leads as (
    select * from {{ ref('stg_marketing__leads') }}
    where is_converted
        and customer_unique_id is not null
    {%- if is_incremental() %}
        and customer_unique_id in (select customer_unique_id from changed_people)
    {%- endif %}
),

final as (
    -- First touch: a person who converted through several leads is credited to the first one.
    select distinct on (customer_unique_id)
        customer_unique_id,
        lead_id,
        channel_id,
        campaign_id,
        created_at as lead_created_at,
        converted_at,
        _loaded_at,
        {{ built_at() }} as _built_at
    from leads
    order by customer_unique_id, converted_at, created_at, lead_id
)

{{ select_replacing_keys('final', 'changed_people', 'customer_unique_id') }}
