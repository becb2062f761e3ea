-- For every breakdown (state, region, category, channel, payment type) a month's revenue adds up
-- to the month's gross revenue in sales_monthly (to within rounding of the payment-type split).
-- Dagster shows this test as an asset check of sales_monthly_by_dimension (dagster-dbt needs the model named: it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'sales_monthly_by_dimension'}}}) }}

with breakdowns as (
    select
        dimension,
        month_start,
        sum(gross_revenue) as gross_revenue
    from {{ ref('sales_monthly_by_dimension') }}
    group by dimension, month_start
),

monthly as (
    select
        month_start,
        gross_revenue
    from {{ ref('sales_monthly') }}
)

select
    breakdowns.dimension,
    breakdowns.month_start,
    breakdowns.gross_revenue as breakdown_revenue,
    monthly.gross_revenue as monthly_revenue
from breakdowns
left join monthly
    on breakdowns.month_start = monthly.month_start
where abs(breakdowns.gross_revenue - coalesce(monthly.gross_revenue, 0)) > 1
