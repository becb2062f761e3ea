-- Attribution splits sales between channels without losing or duplicating any: the attributed
-- revenue of all channels (unattributed included) equals the gross revenue of all sales.
-- Dagster shows this test as an asset check of marketing_channel_monthly (dagster-dbt needs the model named: it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'marketing_channel_monthly'}}}) }}

with channels as (
    select sum(attributed_revenue) as revenue
    from {{ ref('marketing_channel_monthly') }}
),

sales as (
    select sum(gross_revenue) as revenue
    from {{ ref('fct_orders') }}
    where is_sale
)

select
    channels.revenue as attributed_revenue,
    sales.revenue as sales_revenue
from channels
cross join sales
where abs(coalesce(channels.revenue, 0) - coalesce(sales.revenue, 0)) > 0.01
