{{ config(materialized='view') }}
{#- The common "transactions per person" the customer analytics marts (RFM, CLV, cohorts, churn)
    are computed from, so that one set of SQL serves every source: one row per source, person and
    order, sales only, up to the as-of date. Sources: var customer_analytics_sources.
    A view: the rows live in int_customer_transactions (incremental by person); the as-of date,
    which moves with every new sale, is added here. -#}


with transactions as (
    select * from {{ ref('int_customer_transactions') }}
),

-- Materialized: computed once, not once per transaction (the planner would pull the subquery up).
as_of as materialized (
    {{ as_of_dates(ref('int_customer_transactions'), 'purchased_at') }}
),

final as (
    select
        transactions.transaction_source,
        transactions.customer_unique_id,
        transactions.order_id,
        transactions.purchased_at,
        transactions.purchase_date,
        transactions.purchase_month,
        transactions.gross_revenue,
        transactions.refund_amount,
        transactions.net_revenue,
        transactions.gross_margin,
        as_of.as_of_date,
        transactions.order_number,
        transactions.previous_purchase_date,
        transactions.next_purchase_date
    from transactions
    inner join as_of
        on transactions.transaction_source = as_of.transaction_source
    where as_of.as_of_date is not null
)

select * from final
