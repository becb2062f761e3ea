{{ config(
    materialized='incremental',
    unique_key='order_id',
    indexes=[
        {'columns': ['order_id', 'order_item_id'], 'unique': True},
        {'columns': ['_built_at']},
    ]
) }}
{#- Incremental by order: a run recosts every item of the orders whose items, purchase date or
    product costs changed since the last build, and replaces those orders' rows
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with
{%- if is_incremental() %}
changed_orders as (
    select changed.order_id
    from {{ ref('stg_olist__order_items') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    select changed.order_id
    from {{ ref('stg_olist__orders') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    select all_items.order_id
    from {{ ref('stg_olist__order_items') }} as all_items
    where all_items.product_id in (
        select changed.product_id
        from {{ ref('stg_erp__product_costs') }} as changed
        where {{ built_since_last_run('changed') }}
    )
),
{%- endif %}

items as (
    select * from {{ ref('stg_olist__order_items') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {%- endif %}
),

orders as (
    select * from {{ ref('stg_olist__orders') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {%- endif %}
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
        greatest(_loaded_at, cost_loaded_at) as source_loaded_at,
        {{ built_at() }} as _built_at
    from costed
)

select * from final
