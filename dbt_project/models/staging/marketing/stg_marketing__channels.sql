with source as (
    select * from {{ source('marketing', 'channels') }}
),

typed as (
    select
        btrim(channel_id) as channel_id,
        coalesce(nullif(btrim(channel_name), ''), btrim(channel_id)) as channel_name,
        lower(nullif(btrim(channel_type), '')) as channel_type,
        {{ try_timestamp_utc('updated_at') }} as updated_at
    from source
    where nullif(btrim(channel_id), '') is not null
),

deduplicated as (
    select distinct on (channel_id)
        *
    from typed
    order by channel_id, updated_at desc nulls last
),

final as (
    select
        channel_id,
        channel_name,
        channel_type,
        coalesce(channel_type = 'paid', false) as is_paid,
        updated_at
    from deduplicated
)

select * from final
