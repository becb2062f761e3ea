with orders as (
    select * from {{ ref('stg_olist__orders') }}
),

customers as (
    select * from {{ ref('stg_olist__customers') }}
),

final as (
    select
        orders.order_id,
        customers.customer_unique_id,
        orders.customer_id,
        orders.order_status,
        orders.purchased_at,
        orders.purchased_at::date as purchase_date,
        customers.customer_state
    from orders
    inner join customers
        on orders.customer_id = customers.customer_id
)

select * from final
