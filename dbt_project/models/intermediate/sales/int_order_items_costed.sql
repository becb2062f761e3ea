{{ config(materialized='table') }}

with items as (
    select * from {{ ref('stg_olist__order_items') }}
),

orders as (
    select * from {{ ref('stg_olist__orders') }}
),

costs as (
    select * from {{ ref('stg_erp__product_costs') }}
    where unit_cost is not null
),

items_with_purchase_date as (
    select
        items.*,
        orders.purchased_at::date as purchase_date
    from items
    inner join orders
        on items.order_id = orders.order_id
),

costed as (
    -- The ERP cost valid on the purchase date: valid_from <= date < valid_to (exclusive end).
    -- Should periods overlap, the one that started last wins.
    select distinct on (items_with_purchase_date.order_id, items_with_purchase_date.order_item_id)
        items_with_purchase_date.*,
        costs.unit_cost,
        costs._loaded_at as cost_loaded_at
    from items_with_purchase_date
    left join costs
        on items_with_purchase_date.product_id = costs.product_id
        and items_with_purchase_date.purchase_date >= costs.valid_from
        and (costs.valid_to is null or items_with_purchase_date.purchase_date < costs.valid_to)
    order by items_with_purchase_date.order_id, items_with_purchase_date.order_item_id, costs.valid_from desc nulls last
),

final as (
    select
        order_id,
        order_item_id,
        product_id,
        seller_id,
        purchase_date,
        shipping_limit_at,
        price,
        freight_value,
        price + freight_value as gross_revenue,
        unit_cost,
        price - unit_cost as item_margin,
        greatest(_loaded_at, cost_loaded_at) as source_loaded_at
    from costed
)

select * from final
