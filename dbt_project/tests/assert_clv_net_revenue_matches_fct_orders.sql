-- Historical CLV of the Olist people adds up to the net revenue of fct_orders' sales up to the
-- as-of date: no order is lost or counted twice between the fact table and the customer marts.
-- Dagster shows this test as an asset check of customer_lifetime_value (dagster-dbt needs the model named: it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'customer_lifetime_value'}}}) }}

with clv as (
    select
        max(as_of_date) as as_of_date,
        sum(net_revenue) as net_revenue
    from {{ ref('customer_lifetime_value') }}
    where transaction_source = 'olist'
),

orders as (
    select sum(orders.net_revenue) as net_revenue
    from {{ ref('fct_orders') }} as orders
    cross join clv
    where orders.is_sale
        and orders.purchase_date <= clv.as_of_date
)

select
    clv.net_revenue as clv_net_revenue,
    orders.net_revenue as fct_orders_net_revenue
from clv
cross join orders
where abs(coalesce(clv.net_revenue, 0) - coalesce(orders.net_revenue, 0)) > 0.01
