with transactions as (
    select * from {{ ref('int_customer_transactions_unioned') }}
),

customers as (
    select * from {{ ref('int_customers_summarized') }}
),

cohorts as (
    select
        transaction_source,
        cohort_month,
        max(as_of_date) as as_of_date,
        count(*) as cohort_size
    from customers
    group by transaction_source, cohort_month
),

spine as (
    -- Every month from the cohort's first to the as-of month, activity or not (as fivetran's
    -- shopify__customer_cohorts does per customer; here per cohort, which gives the same counts
    -- and stays small at millions of people).
    select
        cohorts.transaction_source,
        cohorts.cohort_month,
        cohorts.cohort_size,
        month_number::integer as cohort_month_number,
        (cohorts.cohort_month + make_interval(months => month_number::integer))::date as calendar_month
    from cohorts
    cross join lateral generate_series(
        0, {{ months_between('cohorts.cohort_month', 'cohorts.as_of_date') }}
    ) as month_number
),

activity as (
    -- A person counts as active once per calendar month: on their first purchase of the month
    -- (no previous purchase, or one in an earlier month). No grouping by person needed.
    select
        transactions.transaction_source,
        customers.cohort_month,
        {{ months_between('customers.cohort_month', 'transactions.purchase_month') }} as cohort_month_number,
        count(*) filter (
            where transactions.previous_purchase_date is null
                or transactions.previous_purchase_date < transactions.purchase_month
        ) as customers_active,
        count(*) as orders,
        sum(transactions.net_revenue) as net_revenue
    from transactions
    inner join customers
        on transactions.transaction_source = customers.transaction_source
        and transactions.customer_unique_id = customers.customer_unique_id
    group by 1, 2, 3
),

joined as (
    select
        spine.transaction_source,
        spine.cohort_month,
        spine.cohort_month_number,
        spine.calendar_month,
        spine.cohort_size,
        coalesce(activity.customers_active, 0) as customers_active,
        coalesce(activity.orders, 0) as orders,
        coalesce(activity.net_revenue, 0) as net_revenue
    from spine
    left join activity
        on spine.transaction_source = activity.transaction_source
        and spine.cohort_month = activity.cohort_month
        and spine.cohort_month_number = activity.cohort_month_number
),

final as (
    select
        transaction_source,
        cohort_month,
        cohort_month_number,
        calendar_month,
        cohort_size,
        customers_active,
        round(customers_active::numeric / cohort_size, 4) as retention_rate,
        orders,
        net_revenue,
        sum(net_revenue) over cohort_window as cumulative_net_revenue,
        round(sum(net_revenue) over cohort_window / cohort_size, 2) as cumulative_revenue_per_customer
    from joined
    window cohort_window as (
        partition by transaction_source, cohort_month
        order by cohort_month_number
        rows unbounded preceding
    )
)

select * from final
