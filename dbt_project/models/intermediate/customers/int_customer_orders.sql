{{ config(materialized='table', indexes=[{'columns': ['order_id'], 'unique': True}, {'columns': ['customer_unique_id']}]) }}

with orders as (
    select * from {{ ref('int_orders_enriched') }}
),

final as (
    -- One row per person and order: Olist gives every order its own customer_id, so the person
    -- (customer_unique_id) is what ties a customer's orders together.
    select
        customer_unique_id,
        order_id,
        customer_id,
        order_status,
        is_sale,
        purchased_at,
        purchase_date,
        customer_zip_code_prefix,
        customer_city,
        customer_state,
        channel_id,
        gross_revenue,
        refund_amount,
        net_revenue,
        gross_margin,
        row_number() over (
            partition by customer_unique_id order by purchased_at, order_id
        ) as order_number,
        case
            when is_sale then count(*) filter (where is_sale) over (
                partition by customer_unique_id order by purchased_at, order_id
                rows between unbounded preceding and current row
            )
        end as sale_number,
        lag(purchased_at) over (
            partition by customer_unique_id order by purchased_at, order_id
        ) as previous_order_purchased_at
    from orders
)

select * from final
