{{ config(
    indexes=[
        {'columns': ['order_id', 'order_item_id'], 'unique': True},
        {'columns': ['product_id']},
        {'columns': ['seller_id']},
        {'columns': ['purchase_date']},
    ]
) }}

with items as (
    select * from {{ ref('int_order_items_costed') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

final as (
    select
        items.order_id || '-' || items.order_item_id as order_item_key,
        items.order_id,
        items.order_item_id,
        items.product_id,
        items.seller_id,
        orders.customer_unique_id,
        orders.order_status,
        orders.is_sale,
        orders.purchase_date,
        orders.customer_state,
        items.shipping_limit_at,
        items.price,
        items.freight_value,
        items.gross_revenue,
        items.unit_cost,
        items.item_margin
    from items
    inner join orders
        on items.order_id = orders.order_id
)

select * from final
