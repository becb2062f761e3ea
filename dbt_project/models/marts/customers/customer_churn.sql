with rfm as (
    select * from {{ ref('customer_rfm') }}
),

final as (
    select
        transaction_source,
        customer_unique_id,
        as_of_date,
        last_purchase_date,
        recency_days as days_since_last_purchase,
        case
            when recency_days > {{ var('churn_threshold_days') }} then 'churned'
            when recency_days > {{ var('at_risk_threshold_days') }} then 'at_risk'
            else 'active'
        end as churn_state,
        recency_days > {{ var('churn_threshold_days') }} as is_churned,
        -- The first day without a purchase for more than churn_threshold_days.
        case
            when recency_days > {{ var('churn_threshold_days') }}
                then last_purchase_date + {{ var('churn_threshold_days') + 1 }}
        end as churned_on,
        rfm_segment
    from rfm
)

select * from final
