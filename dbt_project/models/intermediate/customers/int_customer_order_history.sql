with customer_orders as (
    select * from {{ ref('int_customer_orders') }}
),

latest_order as (
    -- Where the person lives now: the address of their latest order.
    select distinct on (customer_unique_id)
        customer_unique_id,
        customer_zip_code_prefix,
        customer_city,
        customer_state
    from customer_orders
    order by customer_unique_id, purchased_at desc, order_id desc
),

acquisition as (
    select distinct on (customer_unique_id)
        customer_unique_id,
        channel_id as acquisition_channel_id
    from customer_orders
    order by customer_unique_id, purchased_at, order_id
),

history as (
    select
        customer_unique_id,
        count(*) as orders_count,
        count(*) filter (where is_sale) as sales_count,
        min(purchased_at) as first_order_at,
        max(purchased_at) as last_order_at,
        min(purchased_at) filter (where is_sale) as first_sale_at,
        max(purchased_at) filter (where is_sale) as last_sale_at,
        coalesce(sum(gross_revenue) filter (where is_sale), 0) as gross_revenue,
        coalesce(sum(refund_amount) filter (where is_sale), 0) as refund_amount,
        coalesce(sum(net_revenue) filter (where is_sale), 0) as net_revenue
    from customer_orders
    group by customer_unique_id
),

final as (
    select
        history.*,
        latest_order.customer_zip_code_prefix,
        latest_order.customer_city,
        latest_order.customer_state,
        acquisition.acquisition_channel_id
    from history
    inner join latest_order
        on history.customer_unique_id = latest_order.customer_unique_id
    inner join acquisition
        on history.customer_unique_id = acquisition.customer_unique_id
)

select * from final
