-- Revenue in fct_orders equals the item prices plus freight in staging, order by order.
-- Fails with every order whose revenue differs (orders without items must show 0).
-- Dagster shows this test as an asset check of fct_orders (dagster-dbt needs the model named: it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}

-- `materialized`: inlined, PostgreSQL ran the join in parallel and each of its three processes
-- summed all the items again (3x the CPU at 1M orders; 2.5 s of CPU this way).
with items as materialized (
    select
        order_id,
        sum(price) as items_revenue,
        sum(freight_value) as freight_revenue
    from {{ ref('stg_olist__order_items') }}
    group by order_id
),

compared as (
    select
        fct_orders.order_id,
        fct_orders.gross_revenue,
        coalesce(items.items_revenue, 0) + coalesce(items.freight_revenue, 0) as staging_revenue,
        fct_orders.items_revenue,
        coalesce(items.items_revenue, 0) as staging_items_revenue
    from {{ ref('fct_orders') }} as fct_orders
    left join items
        on fct_orders.order_id = items.order_id
)

select *
from compared
where gross_revenue <> staging_revenue
    or items_revenue <> staging_items_revenue
