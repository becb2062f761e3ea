{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='order_id',
    indexes=[
        {'columns': ['order_id', 'order_item_id'], 'unique': True},
        {'columns': ['order_item_key'], 'unique': True},
        {'columns': ['product_id']},
        {'columns': ['seller_id']},
        {'columns': ['purchase_date']},
        {'columns': ['_built_at']},
    ]
) }}
{#- Incremental by order: a run replaces the items of the orders int_order_items_costed or
    int_orders_enriched rewrote since this table's last build, and drops those of orders
    int_orders_enriched no longer holds (macros/incremental.sql;
    DECISIONLOG.md "Incremental builds"). -#}

with
{%- if is_incremental() %}
changed_orders as (
    select changed.order_id
    from {{ ref('int_order_items_costed') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    select changed.order_id
    from {{ ref('int_orders_enriched') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    {{ keys_gone_from(ref('int_orders_enriched'), 'order_id') }}
),
{%- endif %}

items as (
    select * from {{ ref('int_order_items_costed') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {%- endif %}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {%- endif %}
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
        items.item_margin,
        {{ built_at() }} as _built_at
    from items
    inner join orders
        on items.order_id = orders.order_id
)

{{ select_replacing_keys('final', 'changed_orders', 'order_id') }}
