{{ config(
    materialized='table',
    indexes=[{'columns': ['transaction_source', 'customer_unique_id']}]
) }}
{#- The common "transactions per person" the customer analytics marts (RFM, CLV, cohorts, churn)
    are computed from, so that one set of SQL serves every source: one row per source, person and
    order, sales only, up to the as-of date. Sources: var customer_analytics_sources. -#}

{%- set sources = var('customer_analytics_sources') %}

with
{%- if 'olist' in sources %}
olist_orders as (
    select
        'olist' as transaction_source,
        customer_unique_id,
        order_id,
        purchased_at,
        gross_revenue,
        refund_amount,
        net_revenue,
        gross_margin
    from {{ ref('int_orders_enriched') }}
    where is_sale
),
{%- endif %}

{%- if 'byo' in sources %}
byo_orders as (
    -- Transaction lines grouped into orders; a line without an order id is an order of its own.
    select
        'byo' as transaction_source,
        customer_unique_id,
        coalesce(order_id, transaction_id) as order_id,
        min(purchased_at) as purchased_at,
        sum(amount) as gross_revenue,
        0::numeric as refund_amount,
        sum(amount) as net_revenue,
        null::numeric as gross_margin
    from {{ ref('stg_byo__transactions') }}
    where purchased_at is not null
        and amount is not null
        and currency = '{{ var("byo_currency") }}'
    group by customer_unique_id, coalesce(order_id, transaction_id)
),
{%- endif %}

unioned as (
    {%- for source_name in sources %}
    select * from {{ source_name }}_orders
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

as_of as (
    select
        transaction_source,
        {%- if var('rfm_as_of_date') %}
        '{{ var("rfm_as_of_date") }}'::date as as_of_date
        {%- else %}
        max(purchased_at)::date as as_of_date
        {%- endif %}
    from unioned
    group by transaction_source
),

final as (
    select
        unioned.transaction_source,
        unioned.customer_unique_id,
        unioned.order_id,
        unioned.purchased_at,
        unioned.purchased_at::date as purchase_date,
        date_trunc('month', unioned.purchased_at)::date as purchase_month,
        unioned.gross_revenue,
        unioned.refund_amount,
        unioned.net_revenue,
        unioned.gross_margin,
        as_of.as_of_date,
        row_number() over customer_window as order_number,
        lag(unioned.purchased_at::date) over customer_window as previous_purchase_date,
        lead(unioned.purchased_at::date) over customer_window as next_purchase_date
    from unioned
    inner join as_of
        on unioned.transaction_source = as_of.transaction_source
    where unioned.purchased_at::date <= as_of.as_of_date
    window customer_window as (
        partition by unioned.transaction_source, unioned.customer_unique_id
        order by unioned.purchased_at, unioned.order_id
    )
)

select * from final
