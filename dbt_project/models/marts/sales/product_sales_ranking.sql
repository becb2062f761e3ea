{#- Products ranked by revenue and units sold. The sums per product come from int_product_sales,
    incremental by product; the ranks are recomputed over every product. -#}

with per_product as (
    select * from {{ ref('int_product_sales') }}
),

products as (
    select * from {{ ref('dim_products') }}
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
