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
    select
        sources.transaction_source,
        {%- if var('rfm_as_of_date') %}
        '{{ var("rfm_as_of_date") }}'::date as as_of_date
        {%- else %}
        -- The latest sale of the source: an index lookup, not a scan.
        (
            select max(latest.purchased_at)
            -- The model, not the CTE: a CTE read twice would be materialized whole.
            from {{ ref('int_customer_transactions') }} as latest
            where latest.transaction_source = sources.transaction_source
        )::date as as_of_date
        {%- endif %}
    from (
        select distinct sources_seen.transaction_source
        from {{ ref('int_customer_transactions') }} as sources_seen
    ) as sources
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
