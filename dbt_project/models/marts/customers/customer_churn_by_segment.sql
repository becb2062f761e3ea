with churn as (
    select * from {{ ref('customer_churn') }}
),

final as (
    select
        transaction_source,
        rfm_segment,
        max(as_of_date) as as_of_date,
        count(*) as customers,
        count(*) filter (where churn_state = 'active') as active_customers,
        count(*) filter (where churn_state = 'at_risk') as at_risk_customers,
        count(*) filter (where churn_state = 'churned') as churned_customers,
        round(count(*) filter (where churn_state = 'churned')::numeric / count(*), 4) as churn_rate
    from churn
    group by transaction_source, rfm_segment
)

select * from final
