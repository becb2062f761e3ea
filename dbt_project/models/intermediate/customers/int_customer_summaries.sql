{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='customer_unique_id',
    indexes=[
        {'columns': ['customer_unique_id']},
        {'columns': ['transaction_source', 'last_purchase_date']},
        {'columns': ['_built_at']},
    ]
) }}
{#- The part of int_customers_summarized that does not depend on the as-of date: one row per source
    and person with their purchases and revenue. Incremental by person: a run recomputes the people
    int_customer_transactions rewrote since the last build and drops those it no longer holds
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with
{%- if is_incremental() %}
changed_people as (
    {{ rewritten_or_gone_keys(ref('int_customer_transactions'), 'customer_unique_id') }}
),
{%- endif %}

transactions as (
    select * from {{ ref('int_customer_transactions') }}
    {%- if is_incremental() %}
    where customer_unique_id in (select customer_unique_id from changed_people)
    {%- endif %}
),

final as (
    select
        transaction_source,
        customer_unique_id,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        date_trunc('month', min(purchase_date))::date as cohort_month,
        count(*) as orders_count,
        sum(gross_revenue) as gross_revenue,
        sum(refund_amount) as refund_amount,
        sum(net_revenue) as net_revenue,
        sum(gross_margin) as gross_margin,
        count(*) filter (where gross_margin is null) = 0 as has_complete_margin,
        max(purchase_date) - min(purchase_date) as lifespan_days,
        {{ built_at() }} as _built_at
    from transactions
    group by transaction_source, customer_unique_id
)

{{ select_replacing_keys('final', 'changed_people', 'customer_unique_id') }}
