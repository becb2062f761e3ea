{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='order_id',
    indexes=[{'columns': ['order_id'], 'unique': True}, {'columns': ['customer_unique_id']}, {'columns': ['_built_at']}]
) }}
{#- Incremental by order: a run recomputes the orders that any of their inputs changed since the
    last build (the order, its customer, items and their costs, payments, refunds, reviews, the
    person's marketing leads) and replaces their rows (macros/incremental.sql; DECISIONLOG.md
    "Incremental builds"). -#}
-- depends_on: {{ ref('stg_marketing__leads') }}

with
{%- if is_incremental() %}
changed_orders as (
    {%- for input in ['stg_olist__orders', 'int_order_items_costed', 'stg_olist__order_payments',
                      'stg_erp__refunds', 'stg_olist__order_reviews'] %}
    select changed.order_id
    from {{ ref(input) }} as changed
    where {{ built_since_last_run('changed') }}
    union
    {%- endfor %}
    select all_orders.order_id
    from {{ ref('stg_olist__orders') }} as all_orders
    inner join {{ ref('stg_olist__customers') }} as all_customers
        on all_orders.customer_id = all_customers.customer_id
    where {{ built_since_last_run('all_customers') }}
        or all_customers.customer_unique_id in (
            select changed.customer_unique_id
            from {{ ref('stg_marketing__leads') }} as changed
            where {{ built_since_last_run('changed') }}
                and changed.customer_unique_id is not null
        )
),
{%- endif %}

orders as (
    select * from {{ ref('stg_olist__orders') }}
    where purchased_at is not null
    {%- if is_incremental() %}
        and order_id in (select order_id from changed_orders)
    {%- endif %}
),

customers as (
    select * from {{ ref('stg_olist__customers') }}
),

items as (
    select * from {{ ref('int_order_items_costed') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {%- endif %}
),

payments as (
    select * from {{ ref('stg_olist__order_payments') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {%- endif %}
),

refunds as (
    select * from {{ ref('stg_erp__refunds') }}
    where refund_amount is not null
    {%- if is_incremental() %}
        and order_id in (select order_id from changed_orders)
    {%- endif %}
),

reviews as (
    select * from {{ ref('stg_olist__order_reviews') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {%- endif %}
),

acquisitions as (
    select * from {{ ref('int_leads_converted') }}
),

items_per_order as (
    select
        order_id,
        count(*) as items_count,
        count(distinct product_id) as products_count,
        count(distinct seller_id) as sellers_count,
        sum(price) as items_revenue,
        sum(freight_value) as freight_revenue,
        sum(unit_cost) as cost_of_goods,
        bool_and(unit_cost is not null) as has_complete_costs,
        max(source_loaded_at) as source_loaded_at
    from items
    group by order_id
),

payments_per_order as (
    select
        order_id,
        count(*) as payments_count,
        sum(payment_value) as payment_value,
        max(payment_installments) as payment_installments,
        -- The type that paid the largest share; ties go to the first payment.
        (array_agg(payment_type order by payment_value desc nulls last, payment_sequential))[1] as primary_payment_type,
        max(_loaded_at) as source_loaded_at
    from payments
    group by order_id
),

refunds_per_order as (
    select
        order_id,
        count(*) as refunds_count,
        sum(refund_amount) as refund_amount,
        min(refunded_at) as first_refunded_at,
        max(_loaded_at) as source_loaded_at
    from refunds
    group by order_id
),

reviews_per_order as (
    select
        order_id,
        -- The latest answer counts when an order was reviewed more than once.
        (array_agg(review_score order by review_created_at desc nulls last, review_id))[1] as review_score,
        max(_loaded_at) as source_loaded_at
    from reviews
    group by order_id
),

joined as (
    select
        orders.order_id,
        orders.customer_id,
        customers.customer_unique_id,
        orders.order_status,
        orders.order_status not in {{ excluded_order_statuses_sql() }} as is_sale,
        orders.purchased_at,
        orders.purchased_at::date as purchase_date,
        orders.approved_at,
        orders.delivered_to_carrier_at,
        orders.delivered_to_customer_at,
        orders.estimated_delivery_at,
        customers.customer_zip_code_prefix,
        customers.customer_city,
        customers.customer_state,
        coalesce(items_per_order.items_count, 0) as items_count,
        coalesce(items_per_order.products_count, 0) as products_count,
        coalesce(items_per_order.sellers_count, 0) as sellers_count,
        coalesce(items_per_order.items_revenue, 0) as items_revenue,
        coalesce(items_per_order.freight_revenue, 0) as freight_revenue,
        coalesce(items_per_order.items_revenue, 0) + coalesce(items_per_order.freight_revenue, 0) as gross_revenue,
        coalesce(payments_per_order.payments_count, 0) as payments_count,
        coalesce(payments_per_order.payment_value, 0) as payment_value,
        coalesce(payments_per_order.payment_installments, 0) as payment_installments,
        coalesce(payments_per_order.primary_payment_type, 'not_defined') as primary_payment_type,
        coalesce(refunds_per_order.refunds_count, 0) as refunds_count,
        coalesce(refunds_per_order.refund_amount, 0) as refund_amount,
        refunds_per_order.first_refunded_at,
        items_per_order.cost_of_goods,
        coalesce(items_per_order.has_complete_costs, true) as has_complete_costs,
        reviews_per_order.review_score,
        case
            when acquisitions.lead_created_at <= orders.purchased_at then acquisitions.channel_id
            else 'unattributed'
        end as channel_id,
        greatest(
            orders._loaded_at,
            customers._loaded_at,
            items_per_order.source_loaded_at,
            payments_per_order.source_loaded_at,
            refunds_per_order.source_loaded_at,
            reviews_per_order.source_loaded_at,
            acquisitions._loaded_at
        ) as source_loaded_at
    from orders
    inner join customers
        on orders.customer_id = customers.customer_id
    left join items_per_order
        on orders.order_id = items_per_order.order_id
    left join payments_per_order
        on orders.order_id = payments_per_order.order_id
    left join refunds_per_order
        on orders.order_id = refunds_per_order.order_id
    left join reviews_per_order
        on orders.order_id = reviews_per_order.order_id
    left join acquisitions
        on customers.customer_unique_id = acquisitions.customer_unique_id
),

final as (
    select
        *,
        gross_revenue - refund_amount as net_revenue,
        case
            when has_complete_costs then gross_revenue - refund_amount - freight_revenue - coalesce(cost_of_goods, 0)
        end as gross_margin,
        (delivered_to_customer_at::date - purchase_date) as delivery_days,
        case
            when delivered_to_customer_at is not null and estimated_delivery_at is not null
                then delivered_to_customer_at::date > estimated_delivery_at::date
        end as is_delivered_late,
        {{ built_at() }} as _built_at
    from joined
)

{{ select_replacing_keys('final', 'changed_orders', 'order_id') }}
