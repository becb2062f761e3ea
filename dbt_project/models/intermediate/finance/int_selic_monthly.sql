with series as (
    select * from {{ ref('stg_bcb__series_values') }}
    where series_code = {{ var('selic_series_code') }}
),

final as (
    select
        date_trunc('month', reference_date)::date as month_start,
        round(avg(value), 4) as selic_rate_avg,
        (array_agg(value order by reference_date desc))[1] as selic_rate_end_of_month
    from series
    group by 1
)

select * from final
