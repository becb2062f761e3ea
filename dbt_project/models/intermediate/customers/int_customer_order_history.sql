{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='customer_unique_id',
    indexes=[{'columns': ['customer_unique_id'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Incremental by person: a run recomputes the people int_customer_orders rewrote since the last
    build, and drops those it no longer holds (macros/incremental.sql; DECISIONLOG.md
    "Incremental builds"). -#}

with
{%- if is_incremental() %}
changed_people as (
    {{ rewritten_or_gone_keys(ref('int_customer_orders'), 'customer_unique_id') }}
),
{%- endif %}

customer_orders as (
    select * from {{ ref('int_customer_orders') }}
    {%- if is_incremental() %}
    where customer_unique_id in (select customer_unique_id from changed_people)
    {%- endif %}
),

latest_order as (
    -- Where the person lives now: the address of their latest order.
    select distinct on (customer_unique_id)
        customer_unique_id,
        customer_zip_code_prefix,
        customer_city,
        customer_state
    from customer_orders
    order by customer_unique_id, purchased_at desc, order_id desc
),

acquisition as (
    select distinct on (customer_unique_id)
        customer_unique_id,
        channel_id as acquisition_channel_id
    from customer_orders
    order by customer_unique_id, purchased_at, order_id
),

history as (
    select
        customer_unique_id,
        count(*) as orders_count,
        count(*) filter (where is_sale) as sales_count,
        min(purchased_at) as first_order_at,
        max(purchased_at) as last_order_at,
        min(purchased_at) filter (where is_sale) as first_sale_at,
        max(purchased_at) filter (where is_sale) as last_sale_at,
        coalesce(sum(gross_revenue) filter (where is_sale), 0) as gross_revenue,
        coalesce(sum(refund_amount) filter (where is_sale), 0) as refund_amount,
        coalesce(sum(net_revenue) filter (where is_sale), 0) as net_revenue
    from customer_orders
    group by customer_unique_id
),

final as (
    select
        history.*,
        latest_order.customer_zip_code_prefix,
        latest_order.customer_city,
        latest_order.customer_state,
        acquisition.acquisition_channel_id,
        {{ built_at() }} as _built_at
    from history
    inner join latest_order
        on history.customer_unique_id = latest_order.customer_unique_id
    inner join acquisition
        on history.customer_unique_id = acquisition.customer_unique_id
)

{{ select_replacing_keys('final', 'changed_people', 'customer_unique_id') }}
