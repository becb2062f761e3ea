{{ config(materialized='table') }}

with leads as (
    select * from {{ ref('stg_marketing__leads') }}
    where is_converted
        and customer_unique_id is not null
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
        _loaded_at
    from leads
    order by customer_unique_id, converted_at, created_at, lead_id
)

select * from final
