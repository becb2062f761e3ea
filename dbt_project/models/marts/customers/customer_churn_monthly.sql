{#- Churn month by month, from events rather than a person × month grid, so it stays linear in
    the number of orders. A person is active from a purchase until churn_threshold_days pass
    without another; each purchase after such a gap (or the first) starts an active spell, and
    the day the gap exceeds the threshold ends it (a churn event). -#}
{%- set threshold = var('churn_threshold_days') %}

with transactions as (
    select * from {{ ref('int_customer_transactions_unioned') }}
),

events as (
    select
        transaction_source,
        customer_unique_id,
        as_of_date,
        purchase_date,
        order_number = 1 as is_acquisition,
        order_number > 1
        and purchase_date - previous_purchase_date > {{ threshold }} as is_reactivation,
        case
            when next_purchase_date is null or next_purchase_date - purchase_date > {{ threshold }}
                then purchase_date + {{ threshold + 1 }}
        end as churned_on
    from transactions
),

months as (
    select
        bounds.transaction_source,
        month_start::date as month_start,
        (month_start + interval '1 month - 1 day')::date as month_end,
        bounds.as_of_date
    from (
        select
            transaction_source,
            max(as_of_date) as as_of_date,
            date_trunc('month', min(purchase_date)) as first_month
        from transactions
        group by transaction_source
    ) as bounds
    cross join lateral generate_series(
        bounds.first_month, date_trunc('month', bounds.as_of_date), interval '1 month'
    ) as month_start
),

starts as (
    select
        transaction_source,
        date_trunc('month', purchase_date)::date as month_start,
        count(*) filter (where is_acquisition) as new_customers,
        count(*) filter (where is_reactivation) as reactivated_customers
    from events
    where is_acquisition or is_reactivation
    group by 1, 2
),

churns as (
    select
        transaction_source,
        date_trunc('month', churned_on)::date as month_start,
        count(*) as churned_customers
    from events
    where churned_on <= as_of_date
    group by 1, 2
),

monthly as (
    select
        months.transaction_source,
        months.month_start,
        months.month_end,
        coalesce(starts.new_customers, 0) as new_customers,
        coalesce(starts.reactivated_customers, 0) as reactivated_customers,
        coalesce(churns.churned_customers, 0) as churned_customers
    from months
    left join starts
        on months.transaction_source = starts.transaction_source
        and months.month_start = starts.month_start
    left join churns
        on months.transaction_source = churns.transaction_source
        and months.month_start = churns.month_start
),

running as (
    select
        *,
        -- Active at the start of the month = spells started before it minus spells ended before it.
        coalesce(sum(new_customers + reactivated_customers - churned_customers) over (
            partition by transaction_source order by month_start
            rows between unbounded preceding and 1 preceding
        ), 0) as active_customers_at_start
    from monthly
),

final as (
    select
        transaction_source,
        month_start,
        active_customers_at_start,
        new_customers,
        reactivated_customers,
        churned_customers,
        active_customers_at_start + new_customers + reactivated_customers - churned_customers
            as active_customers_at_end,
        round(churned_customers::numeric / nullif(active_customers_at_start, 0), 4) as churn_rate
    from running
)

select * from final
