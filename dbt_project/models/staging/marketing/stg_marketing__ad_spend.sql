with source as (
    select * from {{ source('marketing', 'ad_spend') }}
),

typed as (
    select
        btrim(spend_id) as spend_id,
        {{ try_date('spend_date') }} as spend_date,
        btrim(channel_id) as channel_id,
        nullif(btrim(campaign_id), '') as campaign_id,
        nullif(btrim(campaign_name), '') as campaign_name,
        {{ try_numeric('spend') }}::numeric(14, 2) as spend_amount,
        coalesce(upper(nullif(btrim(currency), '')), 'BRL') as currency,
        {{ try_integer('impressions') }} as impressions,
        {{ try_integer('clicks') }} as clicks,
        {{ try_timestamp_utc('updated_at') }} as updated_at,
        _dlt_load_id
    from source
    where nullif(btrim(spend_id), '') is not null
),

deduplicated as (
    -- The loader merges on spend_id; restated days arrive as updates and the latest one wins.
    select distinct on (spend_id)
        *
    from typed
    order by spend_id, updated_at desc nulls last, _dlt_load_id desc
),

final as (
    select
        spend_id,
        spend_date,
        channel_id,
        campaign_id,
        campaign_name,
        spend_amount,
        currency,
        impressions,
        clicks,
        updated_at,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at
    from deduplicated
)

select * from final
