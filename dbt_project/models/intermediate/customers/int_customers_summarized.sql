{{ config(materialized='table') }}

with transactions as (
    select * from {{ ref('int_customer_transactions_unioned') }}
),

final as (
    select
        transaction_source,
        customer_unique_id,
        max(as_of_date) as as_of_date,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        date_trunc('month', min(purchase_date))::date as cohort_month,
        count(*) as orders_count,
        sum(gross_revenue) as gross_revenue,
        sum(refund_amount) as refund_amount,
        sum(net_revenue) as net_revenue,
        sum(gross_margin) as gross_margin,
        count(*) filter (where gross_margin is null) = 0 as has_complete_margin,
        max(as_of_date) - max(purchase_date) as recency_days,
        max(as_of_date) - min(purchase_date) as tenure_days,
        max(purchase_date) - min(purchase_date) as lifespan_days
    from transactions
    group by transaction_source, customer_unique_id
)

select * from final
