-- People, revenue and churn per RFM segment for one transaction source: the table behind an
-- "RFM segments" dashboard tile.
{% set source = var('analysis_source', 'olist') %}

select
    rfm.rfm_segment,
    count(*) as people,
    round(avg(rfm.recency_days), 0) as average_recency_days,
    round(avg(rfm.frequency), 2) as average_orders,
    round(sum(rfm.monetary), 2) as net_revenue,
    round(sum(rfm.monetary) / sum(sum(rfm.monetary)) over (), 4) as share_of_revenue,
    round(avg(case when churn.is_churned then 1.0 else 0.0 end), 4) as churn_rate
from {{ ref('customer_rfm') }} as rfm
inner join {{ ref('customer_churn') }} as churn
    on rfm.transaction_source = churn.transaction_source
    and rfm.customer_unique_id = churn.customer_unique_id
where rfm.transaction_source = '{{ source }}'
group by rfm.rfm_segment
order by net_revenue desc
