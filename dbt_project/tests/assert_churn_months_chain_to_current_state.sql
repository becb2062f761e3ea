-- Monthly churn is a chain: each month starts with the previous month's end, and the last month
-- ends with the people not churned on the as-of date (customer_churn).
-- Dagster shows this test as an asset check of customer_churn (dagster-dbt needs the model named: it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'customer_churn'}}}) }}

with monthly as (
    select
        *,
        lead(active_customers_at_start) over (
            partition by transaction_source order by month_start
        ) as next_month_start,
        row_number() over (partition by transaction_source order by month_start desc) as months_from_last
    from {{ ref('customer_churn_monthly') }}
),

current_state as (
    select
        transaction_source,
        count(*) filter (where not is_churned) as not_churned
    from {{ ref('customer_churn') }}
    group by transaction_source
),

broken_chain as (
    select
        transaction_source,
        month_start,
        'month end differs from the next month start' as problem
    from monthly
    where next_month_start is not null
        and next_month_start <> active_customers_at_end
),

wrong_end as (
    select
        monthly.transaction_source,
        monthly.month_start,
        'last month end differs from customer_churn' as problem
    from monthly
    inner join current_state
        on monthly.transaction_source = current_state.transaction_source
    where monthly.months_from_last = 1
        and monthly.active_customers_at_end <> current_state.not_churned
)

select * from broken_chain
union all
select * from wrong_end
