with customers as (
    select * from {{ ref('int_customers_summarized') }}
),

final as (
    -- Historical (not predicted) lifetime value, up to the as-of date.
    select
        transaction_source,
        customer_unique_id,
        as_of_date,
        first_purchase_date,
        last_purchase_date,
        cohort_month,
        orders_count,
        gross_revenue,
        refund_amount,
        net_revenue,
        case when has_complete_margin then gross_margin end as gross_margin,
        round(net_revenue / orders_count, 2) as average_order_value,
        tenure_days,
        lifespan_days,
        case
            when orders_count > 1 then round(lifespan_days::numeric / (orders_count - 1), 1)
        end as average_days_between_orders,
        net_revenue as historical_clv
    from customers
)

select * from final
