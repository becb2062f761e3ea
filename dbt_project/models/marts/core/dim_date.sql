with bounds as (
    -- Whole years around every date the marts hold.
    select
        date_trunc('year', min(first_date))::date as first_date,
        (date_trunc('year', max(last_date)) + interval '1 year - 1 day')::date as last_date
    from (
        select
            min(purchased_at)::date as first_date,
            greatest(max(purchased_at), max(delivered_to_customer_at), max(estimated_delivery_at))::date as last_date
        from {{ ref('int_orders_enriched') }}
        union all
        select
            min(spend_date),
            max(spend_date)
        from {{ ref('stg_marketing__ad_spend') }}
        union all
        select
            min(purchase_date),
            max(as_of_date)
        from {{ ref('int_customer_transactions_unioned') }}
    ) as dates
),

days as (
    select day::date as date_day
    from bounds
    cross join lateral generate_series(bounds.first_date, bounds.last_date, interval '1 day') as day
),

final as (
    select
        date_day,
        extract(year from date_day)::integer as year_number,
        extract(quarter from date_day)::integer as quarter_number,
        extract(month from date_day)::integer as month_number,
        extract(day from date_day)::integer as day_of_month,
        extract(isodow from date_day)::integer as day_of_week,
        trim(to_char(date_day, 'Day')) as day_name,
        trim(to_char(date_day, 'Month')) as month_name,
        to_char(date_day, 'YYYY-MM') as year_month,
        date_trunc('week', date_day)::date as week_start,
        date_trunc('month', date_day)::date as month_start,
        date_trunc('quarter', date_day)::date as quarter_start,
        date_trunc('year', date_day)::date as year_start,
        extract(isodow from date_day) in (6, 7) as is_weekend
    from days
)

select * from final
