with series as (
    select * from {{ ref('stg_bcb__series_values') }}
    where series_code = {{ var('ipca_series_code') }}
),

monthly as (
    select
        date_trunc('month', reference_date)::date as month_start,
        -- One point per month; should a series deliver two, the later one wins.
        (array_agg(value order by reference_date desc))[1] as ipca_pct
    from series
    group by 1
),

chained as (
    -- Price level at the end of each month: the product of (1 + monthly %) up to it.
    select
        month_start,
        ipca_pct,
        exp(sum(ln(1 + ipca_pct / 100.0)) over (order by month_start rows unbounded preceding)) as price_level
    from monthly
),

final as (
    select
        month_start,
        ipca_pct,
        -- Rebased so that the latest published month = 100.
        round((100 * price_level / last_value(price_level) over (
            order by month_start rows between unbounded preceding and unbounded following
        ))::numeric, 6) as ipca_index,
        -- Multiply a BRL amount of this month by this factor for its value in prices of the base month.
        round((last_value(price_level) over (
            order by month_start rows between unbounded preceding and unbounded following
        ) / price_level)::numeric, 8) as to_base_month_factor,
        max(month_start) over () as base_month
    from chained
)

select * from final
