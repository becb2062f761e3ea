{#- Channel performance per calendar month. Attribution is first touch: a person is credited to
    the channel of the first lead through which they converted (leads.customer_unique_id), and
    every sale of that person placed after the lead was created counts for the channel.
    CAC = spend / new customers; ROAS = attributed revenue / spend (gross revenue, BRL). -#}

with spend as (
    select * from {{ ref('stg_marketing__ad_spend') }}
    where spend_date is not null
),

leads as (
    select * from {{ ref('stg_marketing__leads') }}
    where created_at is not null
),

orders as (
    select * from {{ ref('fct_orders') }}
    where is_sale
),

customer_orders as (
    select * from {{ ref('int_customer_orders') }}
    where sale_number = 1
),

channels as (
    select * from {{ ref('dim_channels') }}
),

spend_monthly as (
    select
        channel_id,
        date_trunc('month', spend_date)::date as month_start,
        sum(spend_amount) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks
    from spend
    group by 1, 2
),

leads_monthly as (
    -- Leads by the month they were created; converted = converted at any time since.
    select
        channel_id,
        date_trunc('month', created_at)::date as month_start,
        count(*) as leads_created,
        count(*) filter (where is_converted) as leads_converted
    from leads
    group by 1, 2
),

revenue_monthly as (
    select
        channel_id,
        date_trunc('month', purchase_date)::date as month_start,
        count(*) as attributed_orders,
        sum(gross_revenue) as attributed_revenue
    from orders
    group by 1, 2
),

new_customers_monthly as (
    select
        channel_id,
        date_trunc('month', purchase_date)::date as month_start,
        count(*) as new_customers,
        sum(gross_revenue) as new_customer_revenue
    from customer_orders
    group by 1, 2
),

months as (
    select month_start::date as month_start
    from generate_series(
        (select least(min(month_start), (select min(month_start) from revenue_monthly)) from spend_monthly),
        (select greatest(max(month_start), (select max(month_start) from revenue_monthly)) from spend_monthly),
        interval '1 month'
    ) as month_start
),

spine as (
    select
        channels.channel_id,
        channels.channel_name,
        channels.channel_type,
        months.month_start
    from channels
    cross join months
),

final as (
    select
        spine.channel_id,
        spine.channel_name,
        spine.channel_type,
        spine.month_start,
        coalesce(spend_monthly.spend, 0) as spend,
        coalesce(spend_monthly.impressions, 0) as impressions,
        coalesce(spend_monthly.clicks, 0) as clicks,
        coalesce(leads_monthly.leads_created, 0) as leads_created,
        coalesce(leads_monthly.leads_converted, 0) as leads_converted,
        round(leads_monthly.leads_converted::numeric / nullif(leads_monthly.leads_created, 0), 4)
            as lead_conversion_rate,
        coalesce(new_customers_monthly.new_customers, 0) as new_customers,
        coalesce(new_customers_monthly.new_customer_revenue, 0) as new_customer_revenue,
        coalesce(revenue_monthly.attributed_orders, 0) as attributed_orders,
        coalesce(revenue_monthly.attributed_revenue, 0) as attributed_revenue,
        round(spend_monthly.spend / nullif(new_customers_monthly.new_customers, 0), 2)
            as customer_acquisition_cost,
        round(revenue_monthly.attributed_revenue / nullif(spend_monthly.spend, 0), 4)
            as return_on_ad_spend
    from spine
    left join spend_monthly
        on spine.channel_id = spend_monthly.channel_id
        and spine.month_start = spend_monthly.month_start
    left join leads_monthly
        on spine.channel_id = leads_monthly.channel_id
        and spine.month_start = leads_monthly.month_start
    left join revenue_monthly
        on spine.channel_id = revenue_monthly.channel_id
        and spine.month_start = revenue_monthly.month_start
    left join new_customers_monthly
        on spine.channel_id = new_customers_monthly.channel_id
        and spine.month_start = new_customers_monthly.month_start
)

select * from final
