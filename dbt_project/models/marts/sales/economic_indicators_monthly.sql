with ipca as (
    select * from {{ ref('int_ipca_index_monthly') }}
),

selic as (
    select * from {{ ref('int_selic_monthly') }}
),

final as (
    select
        coalesce(ipca.month_start, selic.month_start) as month_start,
        ipca.ipca_pct,
        ipca.ipca_index,
        ipca.to_base_month_factor,
        max(ipca.base_month) over () as ipca_base_month,
        selic.selic_rate_avg,
        selic.selic_rate_end_of_month
    from ipca
    full outer join selic
        on ipca.month_start = selic.month_start
)

select * from final
