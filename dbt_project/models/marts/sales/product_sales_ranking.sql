with items as (
    select * from {{ ref('fct_order_items') }}
    where is_sale
),

products as (
    select * from {{ ref('dim_products') }}
),

per_product as (
    select
        product_id,
        count(*) as units_sold,
        count(distinct order_id) as orders,
        count(distinct customer_unique_id) as customers,
        sum(price) as items_revenue,
        sum(gross_revenue) as gross_revenue,
        round(avg(price), 2) as average_price,
        min(purchase_date) as first_sale_date,
        max(purchase_date) as last_sale_date
    from items
    group by product_id
),

final as (
    select
        per_product.product_id,
        products.product_category,
        products.product_category_label,
        per_product.units_sold,
        per_product.orders,
        per_product.customers,
        per_product.items_revenue,
        per_product.gross_revenue,
        per_product.average_price,
        per_product.first_sale_date,
        per_product.last_sale_date,
        rank() over (order by per_product.items_revenue desc)::integer as revenue_rank,
        rank() over (
            partition by products.product_category order by per_product.items_revenue desc
        )::integer as revenue_rank_in_category,
        rank() over (order by per_product.units_sold desc)::integer as units_rank
    from per_product
    left join products
        on per_product.product_id = products.product_id
)

select * from final
