{#- Monthly sales broken down by one dimension at a time (long format: filter on `dimension`):
    state, region, category, channel and payment_type. For every dimension the revenue of a month
    adds up to the month's gross revenue in sales_monthly: items split revenue by category, and an
    order paid with several payment types splits its revenue in proportion to the amounts paid.
    The split of each sale is int_order_sales_by_dimension (incremental by order); this table sums
    it by month and adds the growth. -#}

with contributions as (
    -- One row per sale and value of each dimension but region, with the revenue it gets.
    select * from {{ ref('int_order_sales_by_dimension') }}
),

states as (
    select * from {{ ref('brazil_states') }}
),

by_value as (
    select
        dimension,
        dimension_value,
        month_start,
        count(*) as orders,
        sum(gross_revenue) as gross_revenue
    from contributions
    group by 1, 2, 3
),

monthly as (
    select
        dimension,
        dimension_value,
        month_start,
        orders,
        round(gross_revenue, 2) as gross_revenue
    from by_value
    union all
    -- A region is the sum of its states.
    select
        'region',
        coalesce(states.region_name, 'unknown'),
        by_value.month_start,
        sum(by_value.orders)::bigint,
        round(sum(by_value.gross_revenue), 2)
    from by_value
    left join states
        on by_value.dimension_value = states.state_code
    where by_value.dimension = 'state'
    group by 1, 2, 3
),

spine as (
    -- Every month for every value, so that growth compares calendar neighbours.
    select
        values_seen.dimension,
        values_seen.dimension_value,
        months.month_start
    from (select distinct dimension, dimension_value from monthly) as values_seen
    cross join (
        select month_start::date as month_start
        from generate_series(
            (select min(month_start) from monthly),
            (select max(month_start) from monthly),
            interval '1 month'
        ) as month_start
    ) as months
),

filled as (
    select
        spine.dimension,
        spine.dimension_value,
        spine.month_start,
        coalesce(monthly.orders, 0) as orders,
        coalesce(monthly.gross_revenue, 0) as gross_revenue
    from spine
    left join monthly
        on spine.dimension = monthly.dimension
        and spine.dimension_value = monthly.dimension_value
        and spine.month_start = monthly.month_start
),

final as (
    select
        dimension,
        dimension_value,
        month_start,
        orders,
        gross_revenue,
        round(gross_revenue / nullif(orders, 0), 2) as average_order_value,
        round(gross_revenue / nullif(sum(gross_revenue) over (partition by dimension, month_start), 0), 4)
            as share_of_month_revenue,
        {{ growth('gross_revenue', 'lag(gross_revenue) over value_window') }} as revenue_mom_growth,
        {{ growth('gross_revenue', 'lag(gross_revenue, 12) over value_window') }} as revenue_yoy_growth
    from filled
    window value_window as (partition by dimension, dimension_value order by month_start)
)

select * from final
