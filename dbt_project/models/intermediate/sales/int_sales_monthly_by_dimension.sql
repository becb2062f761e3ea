{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='month_start',
    indexes=[{'columns': ['month_start']}, {'columns': ['_built_at']}]
) }}
{#- The sums behind sales_monthly_by_dimension: sale orders and revenue per month and value of each
    dimension. Incremental by month: a run recomputes the months of the orders, items, payments and
    products rewritten since its last build, and the months that lost sale orders
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

-- depends_on: {{ ref('stg_olist__products') }}
with
{%- if is_incremental() %}
changed_months as (
    select date_trunc('month', changed.purchase_date)::date as month_start
    from {{ ref('fct_orders') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    select date_trunc('month', changed.purchase_date)::date
    from {{ ref('fct_order_items') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    -- Payments split an order's revenue by type: a new split need not change the order's row.
    select date_trunc('month', orders.purchase_date)::date
    from {{ ref('stg_olist__order_payments') }} as changed
    inner join {{ ref('fct_orders') }} as orders
        on changed.order_id = orders.order_id
    where {{ built_since_last_run('changed') }}
    union
    -- A product's category (a new translation, or a product that reached the catalogue).
    select date_trunc('month', items.purchase_date)::date
    from {{ ref('stg_olist__products') }} as changed
    inner join {{ ref('fct_order_items') }} as items
        on changed.product_id = items.product_id
    where {{ built_since_last_run('changed') }}
    union
    -- A month a sale order left (it moved to another month, stopped being a sale or is gone) holds
    -- fewer sale orders now, unless another sale order came in: that one was rewritten, so its
    -- month is already above. One pass over fct_orders, without sorting it.
    select coalesce(counted.month_start, held.month_start)
    from (
        select date_trunc('month', purchase_date)::date as month_start, count(*) as orders
        from {{ ref('fct_orders') }}
        where is_sale
        group by 1
    ) as counted
    full outer join (
        select month_start, sum(orders) as orders
        from {{ this }}
        where dimension = 'channel'
        group by month_start
    ) as held
        on counted.month_start = held.month_start
    where counted.orders is distinct from held.orders
),

changed_ranges as (
    select month_start, (month_start + interval '1 month')::date as next_month_start
    from changed_months
),
{%- endif %}

orders as (
    select orders.*
    from {{ ref('fct_orders') }} as orders
    {%- if is_incremental() %}
    inner join changed_ranges
        on orders.purchase_date >= changed_ranges.month_start
        and orders.purchase_date < changed_ranges.next_month_start
    {%- endif %}
    where orders.is_sale
),

items as (
    select items.*
    from {{ ref('fct_order_items') }} as items
    {%- if is_incremental() %}
    inner join changed_ranges
        on items.purchase_date >= changed_ranges.month_start
        and items.purchase_date < changed_ranges.next_month_start
    {%- endif %}
    where items.is_sale
),

products as (
    select * from {{ ref('dim_products') }}
),

states as (
    select * from {{ ref('brazil_states') }}
),

payment_types as (
    -- What each payment type paid of an order; the order's total is fct_orders.payment_value.
    select
        payments.order_id,
        payments.payment_type,
        sum(payments.payment_value) as type_value
    from {{ ref('stg_olist__order_payments') }} as payments
    {%- if is_incremental() %}
    where payments.order_id in (select order_id from orders)
    {%- endif %}
    group by payments.order_id, payments.payment_type
),

orders_monthly as (
    -- An order has one state, region and channel: count and sum it directly.
    select
        date_trunc('month', orders.purchase_date)::date as month_start,
        coalesce(orders.customer_state, 'unknown') as state,
        coalesce(states.region_name, 'unknown') as region,
        orders.channel_id as channel,
        count(*) as orders,
        sum(orders.gross_revenue) as gross_revenue
    from orders
    left join states
        on orders.customer_state = states.state_code
    group by 1, 2, 3, 4
),

category_orders as (
    -- An order can hold several categories: one row per order and category first.
    select
        date_trunc('month', items.purchase_date)::date as month_start,
        coalesce(products.product_category, 'unknown') as category,
        items.order_id,
        sum(items.gross_revenue) as gross_revenue
    from items
    left join products
        on items.product_id = products.product_id
    group by 1, 2, 3
),

payment_type_orders as (
    -- One row per order and payment type, with the revenue share the type paid.
    select
        date_trunc('month', orders.purchase_date)::date as month_start,
        coalesce(payment_types.payment_type, 'not_defined') as payment_type,
        orders.gross_revenue * coalesce(payment_types.type_value / nullif(orders.payment_value, 0), 1) as gross_revenue
    from orders
    left join payment_types
        on orders.order_id = payment_types.order_id
        -- An order without a share (nothing paid) counts once, as not_defined.
        and payment_types.type_value / nullif(orders.payment_value, 0) is not null
),

monthly as (
    {%- for dimension in ['state', 'region', 'channel'] %}
    select
        '{{ dimension }}' as dimension,
        {{ dimension }} as dimension_value,
        month_start,
        sum(orders)::bigint as orders,
        round(sum(gross_revenue), 2) as gross_revenue,
        {{ built_at() }} as _built_at
    from orders_monthly
    group by 1, 2, 3
    union all
    {%- endfor %}
    select
        'category',
        category,
        month_start,
        count(*),
        round(sum(gross_revenue), 2),
        {{ built_at() }}
    from category_orders
    group by 1, 2, 3
    union all
    select
        'payment_type',
        payment_type,
        month_start,
        count(*),
        round(sum(gross_revenue), 2),
        {{ built_at() }}
    from payment_type_orders
    group by 1, 2, 3
)

{{ select_replacing_keys('monthly', 'changed_months', 'month_start') }}
