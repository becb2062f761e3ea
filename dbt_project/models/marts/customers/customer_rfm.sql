with customers as (
    select * from {{ ref('int_customers_summarized') }}
),

segments as (
    select * from {{ ref('rfm_segments') }}
),

ranked as (
    -- rank() gives ties the same (lowest) rank, so equal people always get equal scores.
    select
        *,
        rank() over (partition by transaction_source order by last_purchase_date) as recency_rank,
        rank() over (partition by transaction_source order by net_revenue) as monetary_rank,
        count(*) over (partition by transaction_source) as people_count
    from customers
),

scored as (
    select
        transaction_source,
        customer_unique_id,
        as_of_date,
        last_purchase_date,
        recency_days,
        orders_count as frequency,
        net_revenue as monetary,
        -- Quintiles by rank: 1 + floor(5 * (rank - 1) / people), in integer arithmetic.
        (1 + (5 * (recency_rank - 1)) / people_count)::integer as recency_score,
        (
            {%- for lower_bound in var('rfm_frequency_bands') %}
            case when orders_count >= {{ lower_bound }} then 1 else 0 end
            {%- if not loop.last %} +{% endif %}
            {%- endfor %}
        )::integer as frequency_score,
        (1 + (5 * (monetary_rank - 1)) / people_count)::integer as monetary_score
    from ranked
),

final as (
    select
        scored.transaction_source,
        scored.customer_unique_id,
        scored.as_of_date,
        scored.last_purchase_date,
        scored.recency_days,
        scored.frequency,
        scored.monetary,
        scored.recency_score,
        scored.frequency_score,
        scored.monetary_score,
        scored.recency_score::text || scored.frequency_score::text || scored.monetary_score::text as rfm_cell,
        segments.rfm_segment,
        segments.segment_description
    from scored
    left join segments
        on scored.recency_score = segments.recency_score
        and scored.frequency_score = segments.frequency_score
)

select * from final
