{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='customer_unique_id',
    indexes=[{'columns': ['order_id'], 'unique': True}, {'columns': ['customer_unique_id']}, {'columns': ['_built_at']}]
) }}
{#- Incremental by person: a run renumbers every order of the people with an order that
    int_orders_enriched rewrote or no longer holds since the last build, an order that moved to
    another person included (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with
{%- if is_incremental() %}
changed_people as (
    select changed.customer_unique_id
    from {{ ref('int_orders_enriched') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    -- The person a rewritten order belonged to before, when it moved to another.
    select current_orders.customer_unique_id
    from {{ this }} as current_orders
    inner join {{ ref('int_orders_enriched') }} as changed
        on current_orders.order_id = changed.order_id
    where {{ built_since_last_run('changed') }}
        and changed.customer_unique_id <> current_orders.customer_unique_id
    union
    -- The person of an order int_orders_enriched no longer holds.
    {{ keys_gone_from(ref('int_orders_enriched'), 'customer_unique_id', match='order_id') }}
),
{%- endif %}

orders as (
    select * from {{ ref('int_orders_enriched') }}
    {%- if is_incremental() %}
    where customer_unique_id in (select customer_unique_id from changed_people)
    {%- endif %}
),

final as (
    -- One row per person and order: Olist gives every order its own customer_id, so the person
    -- (customer_unique_id) is what ties a customer's orders together.
    select
        customer_unique_id,
        order_id,
        customer_id,
        order_status,
        is_sale,
        purchased_at,
        purchase_date,
        customer_zip_code_prefix,
        customer_city,
        customer_state,
        channel_id,
        gross_revenue,
        refund_amount,
        net_revenue,
        gross_margin,
        row_number() over (
            partition by customer_unique_id order by purchased_at, order_id
        ) as order_number,
        case
            when is_sale then count(*) filter (where is_sale) over (
                partition by customer_unique_id order by purchased_at, order_id
                rows between unbounded preceding and current row
            )
        end as sale_number,
        lag(purchased_at) over (
            partition by customer_unique_id order by purchased_at, order_id
        ) as previous_order_purchased_at,
        {{ built_at() }} as _built_at
    from orders
)

{{ select_replacing_keys('final', 'changed_people', 'customer_unique_id') }}
