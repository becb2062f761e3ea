-- The people in the RFM mart are exactly the people with a sale up to the as-of date: for Olist
-- the customer_unique_ids of fct_orders' sales, for BYO the hashed customers of the staging lines.
-- Dagster shows this test as an asset check of customer_rfm (dagster-dbt needs the model named: it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'customer_rfm'}}}) }}

with rfm as (
    select
        transaction_source,
        customer_unique_id
    from {{ ref('customer_rfm') }}
),

as_of as (
    select
        transaction_source,
        max(as_of_date) as as_of_date
    from {{ ref('customer_rfm') }}
    group by transaction_source
),

with_sales as (
    select distinct
        'olist' as transaction_source,
        orders.customer_unique_id
    from {{ ref('fct_orders') }} as orders
    inner join as_of
        on as_of.transaction_source = 'olist'
    where orders.is_sale
        and orders.purchase_date <= as_of.as_of_date
    {%- if 'byo' in var('customer_analytics_sources') %}
    union
    select distinct
        'byo',
        lines.customer_unique_id
    from {{ ref('stg_byo__transactions') }} as lines
    inner join as_of
        on as_of.transaction_source = 'byo'
    where lines.purchased_at::date <= as_of.as_of_date
        and lines.currency = '{{ var("byo_currency") }}'
    {%- endif %}
),

missing_from_rfm as (
    select
        'missing from customer_rfm' as problem,
        *
    from with_sales
    except
    select
        'missing from customer_rfm',
        *
    from rfm
),

without_sales as (
    select
        'in customer_rfm without a sale' as problem,
        *
    from rfm
    except
    select
        'in customer_rfm without a sale',
        *
    from with_sales
)

select * from missing_from_rfm
union all
select * from without_sales
