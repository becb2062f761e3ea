{{ config(materialized='view') }}
{#- One row per source and person as of the as-of date, for RFM, CLV, cohorts and churn. A view: the
    rows live in int_customer_summaries (incremental by person); the as-of date, which moves with
    every new sale, and the days counted to it are added here. -#}

with customers as (
    select * from {{ ref('int_customer_summaries') }}
),

-- Materialized: computed once, not once per person.
as_of as materialized (
    {{ as_of_dates(ref('int_customer_summaries'), 'last_purchase_date') }}
),

final as (
    select
        customers.transaction_source,
        customers.customer_unique_id,
        as_of.as_of_date,
        customers.first_purchase_date,
        customers.last_purchase_date,
        customers.cohort_month,
        customers.orders_count,
        customers.gross_revenue,
        customers.refund_amount,
        customers.net_revenue,
        customers.gross_margin,
        customers.has_complete_margin,
        as_of.as_of_date - customers.last_purchase_date as recency_days,
        as_of.as_of_date - customers.first_purchase_date as tenure_days,
        customers.lifespan_days
    from customers
    inner join as_of
        on customers.transaction_source = as_of.transaction_source
    where as_of.as_of_date is not null
)

select * from final
