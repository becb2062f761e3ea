{#- Monthly sales broken down by one dimension at a time (long format: filter on `dimension`):
    state, region, category, channel and payment_type. For every dimension the revenue of a month
    adds up to the month's gross revenue in sales_monthly: items split revenue by category, and an
    order paid with several payment types splits its revenue in proportion to the amounts paid. -#}

with orders as (
    select * from {{ ref('fct_orders') }}
    where is_sale
),

items as (
    select * from {{ ref('fct_order_items') }}
    where is_sale
),

products as (
    select * from {{ ref('dim_products') }}
),

states as (
    select * from {{ ref('brazil_states') }}
),

payments as (
    select * from {{ ref('stg_olist__order_payments') }}
),

payment_types as (
    -- What each payment type paid of an order; the order's total is fct_orders.payment_value.
    select
        order_id,
        payment_type,
        sum(payment_value) as type_value
    from payments
    group by order_id, payment_type
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
        round(sum(gross_revenue), 2) as gross_revenue
    from orders_monthly
    group by 1, 2, 3
    union all
    {%- endfor %}
    select
        'category',
        category,
        month_start,
        count(*),
        round(sum(gross_revenue), 2)
    from category_orders
    group by 1, 2, 3
    union all
    select
        'payment_type',
        payment_type,
        month_start,
        count(*),
        round(sum(gross_revenue), 2)
    from payment_type_orders
    group by 1, 2, 3
),

spine as (
    -- Every month for every value, so that growth compares calendar neighbours.
    select
        values_seen.dimension,
        values_seen.dimension_value,
        months.month_start
    from (select distinct dimension, dimension_value from monthly) as values_seen
    cross join (
        select month_start::date as month_start
        from generate_series(
            (select min(month_start) from monthly),
            (select max(month_start) from monthly),
            interval '1 month'
        ) as month_start
    ) as months
),

filled as (
    select
        spine.dimension,
        spine.dimension_value,
        spine.month_start,
        coalesce(monthly.orders, 0) as orders,
        coalesce(monthly.gross_revenue, 0) as gross_revenue
    from spine
    left join monthly
        on spine.dimension = monthly.dimension
        and spine.dimension_value = monthly.dimension_value
        and spine.month_start = monthly.month_start
),

final as (
    select
        dimension,
        dimension_value,
        month_start,
        orders,
        gross_revenue,
        round(gross_revenue / nullif(orders, 0), 2) as average_order_value,
        round(gross_revenue / nullif(sum(gross_revenue) over (partition by dimension, month_start), 0), 4)
            as share_of_month_revenue,
        {{ growth('gross_revenue', 'lag(gross_revenue) over value_window') }} as revenue_mom_growth,
        {{ growth('gross_revenue', 'lag(gross_revenue, 12) over value_window') }} as revenue_yoy_growth
    from filled
    window value_window as (partition by dimension, dimension_value order by month_start)
)

select * from final
