{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='product_id',
    indexes=[{'columns': ['product_id'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Sales per product, the sums behind product_sales_ranking. Incremental by product: a run
    recomputes the products of the items fct_order_items rewrote since its last build, and the
    products that lost sale items (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with
{%- if is_incremental() %}
changed_products as (
    select changed.product_id
    from {{ ref('fct_order_items') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    -- A product that lost a sale item (its order is gone, stopped being a sale or now holds
    -- another product) has fewer sale items now, unless another one came in: that one was
    -- rewritten, so the product is already above. One pass over fct_order_items, without sorting.
    select coalesce(counted.product_id, held.product_id)
    from (
        select product_id, count(*) as units_sold
        from {{ ref('fct_order_items') }}
        where is_sale
        group by product_id
    ) as counted
    full outer join {{ this }} as held
        on counted.product_id = held.product_id
    where counted.units_sold is distinct from held.units_sold
),
{%- endif %}

items as (
    select * from {{ ref('fct_order_items') }}
    where is_sale
    {%- if is_incremental() %}
        and product_id in (select product_id from changed_products)
    {%- endif %}
),

per_product as (
    select
        product_id,
        count(*) as units_sold,
        count(distinct order_id) as orders,
        count(distinct customer_unique_id) as customers,
        sum(price) as items_revenue,
        sum(gross_revenue) as gross_revenue,
        round(avg(price), 2) as average_price,
        min(purchase_date) as first_sale_date,
        max(purchase_date) as last_sale_date,
        {{ built_at() }} as _built_at
    from items
    group by product_id
)

{{ select_replacing_keys('per_product', 'changed_products', 'product_id') }}
