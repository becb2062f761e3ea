with history as (
    select * from {{ ref('int_customer_order_history') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
    where transaction_source = 'olist'
),

churn as (
    select * from {{ ref('customer_churn') }}
    where transaction_source = 'olist'
),

states as (
    select * from {{ ref('brazil_states') }}
),

final as (
    select
        history.customer_unique_id,
        history.customer_zip_code_prefix,
        history.customer_city,
        history.customer_state,
        states.region_name as customer_region_name,
        history.first_order_at,
        history.last_order_at,
        history.orders_count,
        history.sales_count,
        history.first_sale_at,
        history.last_sale_at,
        history.net_revenue as lifetime_net_revenue,
        history.acquisition_channel_id,
        rfm.rfm_segment,
        churn.churn_state,
        churn.p_alive
    from history
    left join states
        on history.customer_state = states.state_code
    left join rfm
        on history.customer_unique_id = rfm.customer_unique_id
    left join churn
        on history.customer_unique_id = churn.customer_unique_id
)

select * from final
