with orders as (
    select * from {{ ref('fct_orders') }}
    where is_sale
),

customer_orders as (
    select * from {{ ref('int_customer_orders') }}
    where sale_number = 1
),

calendar as (
    select date_day from {{ ref('dim_date') }}
    where date_day between (select min(purchase_date) from orders) and (select max(purchase_date) from orders)
),

daily as (
    select
        purchase_date,
        count(*) as orders,
        count(distinct customer_unique_id) as customers,
        sum(items_count) as items,
        sum(gross_revenue) as gross_revenue,
        sum(refund_amount) as refund_amount,
        sum(net_revenue) as net_revenue
    from orders
    group by purchase_date
),

new_customers as (
    select
        purchase_date,
        count(*) as new_customers
    from customer_orders
    group by purchase_date
),

final as (
    select
        calendar.date_day,
        coalesce(daily.orders, 0) as orders,
        coalesce(daily.customers, 0) as customers,
        coalesce(new_customers.new_customers, 0) as new_customers,
        coalesce(daily.items, 0) as items,
        coalesce(daily.gross_revenue, 0) as gross_revenue,
        coalesce(daily.refund_amount, 0) as refund_amount,
        coalesce(daily.net_revenue, 0) as net_revenue,
        round(daily.gross_revenue / nullif(daily.orders, 0), 2) as average_order_value
    from calendar
    left join daily
        on calendar.date_day = daily.purchase_date
    left join new_customers
        on calendar.date_day = new_customers.purchase_date
)

select * from final
