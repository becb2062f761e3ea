-- The ten best-selling products of the latest month with sales, with their category and share
-- of the month's item revenue. `dbt compile -s top_products_last_month` writes the SQL to
-- target/compiled/ for a notebook or BI tool.
with items as (
    select * from {{ ref('fct_order_items') }}
    where is_sale
),

products as (
    select * from {{ ref('dim_products') }}
),

last_month as (
    select date_trunc('month', max(purchase_date))::date as month_start from items
),

month_items as (
    select items.*
    from items
    cross join last_month
    where date_trunc('month', items.purchase_date)::date = last_month.month_start
),

per_product as (
    select
        product_id,
        count(*) as units_sold,
        sum(price) as items_revenue
    from month_items
    group by product_id
)

select
    per_product.product_id,
    products.product_category_label,
    per_product.units_sold,
    per_product.items_revenue,
    round(per_product.items_revenue / sum(per_product.items_revenue) over (), 4) as share_of_month
from per_product
left join products
    on per_product.product_id = products.product_id
order by per_product.items_revenue desc
limit 10
