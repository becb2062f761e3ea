{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='replace_keys',
    indexes=[
        {'columns': ['order_id'], 'unique': True},
        {'columns': ['customer_unique_id']},
        {'columns': ['purchase_date']},
        {'columns': ['customer_state', 'purchase_date']},
        {'columns': ['order_status']},
        {'columns': ['channel_id']},
        {'columns': ['_built_at']},
    ]
) }}
{#- Incremental: a run takes the orders int_orders_enriched rewrote since this table's last build,
    and those it no longer holds (macros/incremental.sql; DECISIONLOG.md "Incremental builds").
    Of the rewritten ones, only orders whose values actually changed reach the table, so a wide
    rewrite upstream costs a comparison here, not a rewrite of the table and its seven indexes. -#}
{%- set compared_columns = [
    'customer_id', 'customer_unique_id', 'order_status', 'is_sale', 'purchased_at', 'purchase_date',
    'approved_at', 'delivered_to_carrier_at', 'delivered_to_customer_at', 'estimated_delivery_at',
    'customer_zip_code_prefix', 'customer_state', 'channel_id', 'primary_payment_type',
    'payment_installments', 'items_count', 'products_count', 'sellers_count', 'items_revenue',
    'freight_revenue', 'gross_revenue', 'payment_value', 'refund_amount', 'net_revenue',
    'cost_of_goods', 'gross_margin', 'review_score', 'delivery_days', 'is_delivered_late',
    'source_loaded_at',
] %}

with orders as (
    select * from {{ ref('int_orders_enriched') }}
),
{%- if is_incremental() %}

changed_orders as (
    -- The table itself, not the CTE above: PostgreSQL materializes a CTE read more than once,
    -- which would copy all of int_orders_enriched before the _built_at index could narrow it.
    select orders.order_id
    from {{ ref('int_orders_enriched') }} as orders
    where {{ built_since_last_run('orders') }}
        and not exists (
            select 1
            from {{ this }} as current_orders
            where current_orders.order_id = orders.order_id
                and ({% for column in compared_columns %}current_orders.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
                is not distinct from
                ({% for column in compared_columns %}orders.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
        )
    union
    {{ keys_gone_from(ref('int_orders_enriched'), 'order_id') }}
),
{%- endif %}

final as (
    select
        order_id,
        {%- for column in compared_columns %}
        {{ column }},
        {%- endfor %}
        {{ built_at() }} as _built_at
    from orders
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {%- endif %}
)

{{ select_replacing_keys('final', 'changed_orders', 'order_id') }}
