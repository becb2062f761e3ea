-- Every refund of an order in fct_orders is counted once: the refunds in fct_orders add up to
-- the ERP refunds of the same orders.
-- Dagster shows this test as an asset check of fct_orders (dagster-dbt needs the model named: it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}

with erp as (
    select coalesce(sum(refunds.refund_amount), 0) as total
    from {{ ref('stg_erp__refunds') }} as refunds
    where refunds.order_id in (select order_id from {{ ref('fct_orders') }})
),

facts as (
    select coalesce(sum(refund_amount), 0) as total
    from {{ ref('fct_orders') }}
)

select
    erp.total as erp_refunds,
    facts.total as fct_orders_refunds
from erp
cross join facts
where abs(erp.total - facts.total) > 0.005
