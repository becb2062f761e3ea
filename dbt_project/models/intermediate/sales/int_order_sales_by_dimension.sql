{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='order_id',
    indexes=[
        {'columns': ['order_id', 'dimension', 'dimension_value'], 'unique': True},
        {'columns': ['_built_at']},
    ]
) }}
{#- What each sale contributes to sales_monthly_by_dimension: one row per order and value of each
    dimension (its state, its channel, each category of its items, each payment type it was paid
    with) with the revenue that value gets. The mart only sums these rows by month.

    Incremental by order (macros/incremental.sql; DECISIONLOG.md "Incremental builds"): a run
    rewrites the orders int_orders_enriched rewrote since its last build, the orders holding a
    product whose category changed (int_product_categories), and drops the orders fct_orders no
    longer holds. A week's changes reach orders of every month, so summing by month
    incrementally would redo every month; by order it redoes a few thousand rows. -#}
-- depends_on: {{ ref('int_orders_enriched') }}

with
{%- if is_incremental() %}
changed_orders as (
    -- Every change to an order's row in fct_orders or to its items in fct_order_items starts as a
    -- rewrite of the order in int_orders_enriched, which rewrites an order when its items,
    -- payments, refunds, review or person change (orders without items included).
    select changed.order_id
    from {{ ref('int_orders_enriched') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    select items.order_id
    from {{ ref('int_product_categories') }} as changed
    inner join {{ ref('fct_order_items') }} as items
        on items.product_id = changed.product_id
    where {{ built_since_last_run('changed') }}
    union
    -- Every order here has one state row: looking up those alone halves the cost.
    {{ keys_gone_from(ref('fct_orders'), 'order_id', held_filter="held.dimension = 'state'") }}
),
{%- endif %}

orders as (
    select * from {{ ref('fct_orders') }}
    where is_sale
    {%- if is_incremental() %}
        and order_id in (select order_id from changed_orders)
    {%- endif %}
),

items as (
    select * from {{ ref('fct_order_items') }}
    where is_sale
    {%- if is_incremental() %}
        and order_id in (select order_id from changed_orders)
    {%- endif %}
),

categories as (
    select * from {{ ref('int_product_categories') }}
),

payment_types as (
    -- What each payment type paid of an order; the order's total is fct_orders.payment_value.
    select
        order_id,
        payment_type,
        sum(payment_value) as type_value
    from {{ ref('stg_olist__order_payments') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {%- endif %}
    group by order_id, payment_type
),

by_order as (
    -- An order has one state and one channel.
    select
        order_id,
        date_trunc('month', purchase_date)::date as month_start,
        'state' as dimension,
        coalesce(customer_state, 'unknown') as dimension_value,
        gross_revenue
    from orders
    union all
    select
        order_id,
        date_trunc('month', purchase_date)::date,
        'channel',
        channel_id,
        gross_revenue
    from orders
),

by_category as (
    -- An order can hold several categories: the revenue of its items in each.
    select
        items.order_id,
        date_trunc('month', items.purchase_date)::date as month_start,
        'category' as dimension,
        coalesce(categories.product_category, 'unknown') as dimension_value,
        sum(items.gross_revenue) as gross_revenue
    from items
    left join categories
        on items.product_id = categories.product_id
    group by 1, 2, 3, 4
),

by_payment_type as (
    -- An order paid with several types splits its revenue in proportion to the amounts paid; an
    -- order without a share (nothing paid) counts once, as not_defined.
    select
        orders.order_id,
        date_trunc('month', orders.purchase_date)::date as month_start,
        'payment_type' as dimension,
        coalesce(payment_types.payment_type, 'not_defined') as dimension_value,
        orders.gross_revenue * coalesce(payment_types.type_value / nullif(orders.payment_value, 0), 1) as gross_revenue
    from orders
    left join payment_types
        on orders.order_id = payment_types.order_id
        and payment_types.type_value / nullif(orders.payment_value, 0) is not null
),

final as (
    select
        order_id,
        month_start,
        dimension,
        dimension_value,
        gross_revenue,
        {{ built_at() }} as _built_at
    from (
        select * from by_order
        union all
        select * from by_category
        union all
        select * from by_payment_type
    ) as contributions
)

{{ select_replacing_keys('final', 'changed_orders', 'order_id') }}
