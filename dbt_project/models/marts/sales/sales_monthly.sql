{#- Months after the latest published IPCA are already in base-month prices (factor 1); months
    before the first IPCA point have no real value. -#}
{%- set real_factor -%}
case when with_growth.month_start > base.base_month then 1 else ipca.to_base_month_factor end
{%- endset %}

with daily as (
    select * from {{ ref('sales_daily') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
    where is_sale
),

ipca as (
    select * from {{ ref('int_ipca_index_monthly') }}
),

base as (
    select max(base_month) as base_month from ipca
),

customers_per_month as (
    select
        date_trunc('month', purchase_date)::date as month_start,
        count(distinct customer_unique_id) as customers
    from orders
    group by 1
),

monthly as (
    select
        date_trunc('month', date_day)::date as month_start,
        sum(orders) as orders,
        sum(new_customers) as new_customers,
        sum(items) as items,
        sum(gross_revenue) as gross_revenue,
        sum(refund_amount) as refund_amount,
        sum(net_revenue) as net_revenue
    from daily
    group by 1
),

with_growth as (
    select
        monthly.*,
        coalesce(customers_per_month.customers, 0) as customers,
        lag(monthly.gross_revenue) over (order by monthly.month_start) as previous_month_revenue,
        lag(monthly.orders) over (order by monthly.month_start) as previous_month_orders,
        lag(monthly.gross_revenue, 12) over (order by monthly.month_start) as previous_year_revenue,
        lag(monthly.orders, 12) over (order by monthly.month_start) as previous_year_orders
    from monthly
    left join customers_per_month
        on monthly.month_start = customers_per_month.month_start
),

final as (
    select
        with_growth.month_start,
        with_growth.orders,
        with_growth.customers,
        with_growth.new_customers,
        with_growth.items,
        with_growth.gross_revenue,
        with_growth.refund_amount,
        with_growth.net_revenue,
        round(with_growth.gross_revenue / nullif(with_growth.orders, 0), 2) as average_order_value,
        {{ growth('with_growth.gross_revenue', 'with_growth.previous_month_revenue') }} as revenue_mom_growth,
        {{ growth('with_growth.orders', 'with_growth.previous_month_orders') }} as orders_mom_growth,
        {{ growth('with_growth.gross_revenue', 'with_growth.previous_year_revenue') }} as revenue_yoy_growth,
        {{ growth('with_growth.orders', 'with_growth.previous_year_orders') }} as orders_yoy_growth,
        ipca.ipca_pct,
        ipca.ipca_index,
        base.base_month as real_terms_base_month,
        round(with_growth.gross_revenue * {{ real_factor }}, 2) as gross_revenue_real,
        round(with_growth.net_revenue * {{ real_factor }}, 2) as net_revenue_real
    from with_growth
    left join ipca
        on with_growth.month_start = ipca.month_start
    cross join base
)

select * from final
