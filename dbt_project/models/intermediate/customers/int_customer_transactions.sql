{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='customer_unique_id',
    indexes=[
        {'columns': ['customer_unique_id']},
        {'columns': ['transaction_source', 'purchased_at']},
        {'columns': ['_built_at']},
    ]
) }}
{#- The transactions per person of every source, with each order's place in the person's
    sequence: the part of int_customer_transactions_unioned that does not depend on the as-of date,
    so that it can be incremental by person. A run recomputes the people whose Olist orders
    int_customer_orders rewrote since the last build, the people it no longer holds, and the BYO
    people whose orders differ from the ones here (the BYO staging table is rebuilt whole)
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). With var rfm_as_of_date set,
    later transactions are left out here. -#}

{%- set sources = var('customer_analytics_sources') %}

with
{%- if 'byo' in sources %}
byo_orders_all as (
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

{%- if is_incremental() %}
changed_people as (
    {%- if 'olist' in sources %}
    select changed.customer_unique_id
    from {{ ref('int_customer_orders') }} as changed
    where {{ built_since_last_run('changed') }}
    union
    {%- endif %}
    {%- if 'byo' in sources %}
    -- The BYO staging table is rebuilt whole: compare its orders with the ones here.
    select coalesce(byo_now.customer_unique_id, byo_built.customer_unique_id)
    from byo_orders_all as byo_now
    full outer join (
        select * from {{ this }} where transaction_source = 'byo'
    ) as byo_built
        on byo_now.customer_unique_id = byo_built.customer_unique_id
        and byo_now.order_id = byo_built.order_id
    where (byo_now.purchased_at, byo_now.gross_revenue) is distinct from
        (byo_built.purchased_at, byo_built.gross_revenue)
    union
    {%- endif %}
    -- People with no Olist order left (all moved away or gone).
    {{ keys_gone_from(
        ref('int_customer_orders'), 'customer_unique_id', held_filter="held.transaction_source = 'olist'"
    ) }}
),
{%- endif %}

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
    from {{ ref('int_customer_orders') }}
    where is_sale
    {%- if is_incremental() %}
        and customer_unique_id in (select customer_unique_id from changed_people)
    {%- endif %}
),
{%- endif %}

{%- if 'byo' in sources %}
byo_orders as (
    select * from byo_orders_all
    {%- if is_incremental() %}
    where customer_unique_id in (select customer_unique_id from changed_people)
    {%- endif %}
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

final as (
    select
        transaction_source,
        customer_unique_id,
        order_id,
        purchased_at,
        purchased_at::date as purchase_date,
        date_trunc('month', purchased_at)::date as purchase_month,
        gross_revenue,
        refund_amount,
        net_revenue,
        gross_margin,
        row_number() over customer_window as order_number,
        lag(purchased_at::date) over customer_window as previous_purchase_date,
        lead(purchased_at::date) over customer_window as next_purchase_date,
        {{ built_at() }} as _built_at
    from unioned
    {%- if var('rfm_as_of_date') %}
    where purchased_at::date <= '{{ var("rfm_as_of_date") }}'::date
    {%- endif %}
    window customer_window as (
        partition by transaction_source, customer_unique_id
        order by purchased_at, order_id
    )
)

{{ select_replacing_keys('final', 'changed_people', 'customer_unique_id') }}
