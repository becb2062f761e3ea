with channels as (
    select * from {{ ref('stg_marketing__channels') }}
),

referenced as (
    -- Channels named by spend or leads but missing from the channel list still get a row.
    select distinct channel_id from {{ ref('stg_marketing__ad_spend') }}
    where channel_id is not null
    union
    select distinct channel_id from {{ ref('stg_marketing__leads') }}
    where channel_id is not null
),

final as (
    select
        channels.channel_id,
        channels.channel_name,
        channels.channel_type,
        channels.is_paid
    from channels
    union all
    select
        referenced.channel_id,
        referenced.channel_id,
        'unknown',
        false
    from referenced
    where referenced.channel_id not in (select channel_id from channels)
    union all
    -- The member for orders no lead explains.
    select
        'unattributed',
        'Unattributed',
        'none',
        false
)

select * from final
