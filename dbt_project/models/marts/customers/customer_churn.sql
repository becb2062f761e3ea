{#- The CLV step (Dagster asset clv_predictions) writes source('clv', ...) after the models it reads
    are built. On a database where it has not run yet (a plain `dbt build` on a fresh database) the
    table does not exist: the model then builds with null P(alive) and predictions. -#}
{%- set clv_predictions = source('clv', 'customer_clv_predictions') -%}
{%- set clv_built = existing_relation(clv_predictions) is not none -%}

with rfm as (
    select * from {{ ref('customer_rfm') }}
),

predictions as (
    {%- if clv_built %}
    select
        transaction_source,
        customer_unique_id,
        p_alive,
        expected_purchases_90d,
        predicted_clv,
        as_of_date,
        model_run_id
    from {{ clv_predictions }}
    {%- else %}
    -- {{ clv_predictions }} does not exist yet: no predictions.
    select
        null::text as transaction_source,
        null::text as customer_unique_id,
        null::double precision as p_alive,
        null::double precision as expected_purchases_90d,
        null::numeric(18, 2) as predicted_clv,
        null::date as as_of_date,
        null::uuid as model_run_id
    where false
    {%- endif %}
),

final as (
    select
        rfm.transaction_source,
        rfm.customer_unique_id,
        rfm.as_of_date,
        rfm.last_purchase_date,
        rfm.recency_days as days_since_last_purchase,
        case
            when rfm.recency_days > {{ var('churn_threshold_days') }} then 'churned'
            when rfm.recency_days > {{ var('at_risk_threshold_days') }} then 'at_risk'
            else 'active'
        end as churn_state,
        rfm.recency_days > {{ var('churn_threshold_days') }} as is_churned,
        -- The first day without a purchase for more than churn_threshold_days.
        case
            when rfm.recency_days > {{ var('churn_threshold_days') }}
                then rfm.last_purchase_date + {{ var('churn_threshold_days') + 1 }}
        end as churned_on,
        rfm.rfm_segment,
        -- The BG/NBD model's view beside the threshold rule (latest CLV run).
        predictions.p_alive,
        predictions.expected_purchases_90d,
        predictions.predicted_clv,
        predictions.as_of_date as clv_as_of_date,
        predictions.model_run_id as clv_model_run_id
    from rfm
    left join predictions
        on rfm.transaction_source = predictions.transaction_source
        and rfm.customer_unique_id = predictions.customer_unique_id
)

select * from final
