with source as (
    select * from {{ source('olist', 'orders') }}
),

deduplicated as (
    -- The same order can arrive in several files (a later file carries a status change): keep the last load.
    select
        *,
        row_number() over (partition by order_id order by _dlt_load_id desc) as _row_number
    from source
    where order_id is not null and order_id <> ''
),

final as (
    select
        order_id,
        customer_id,
        lower(order_status) as order_status,
        {{ try_timestamp('order_purchase_timestamp') }} as purchased_at,
        {{ try_timestamp('order_approved_at') }} as approved_at,
        {{ try_timestamp('order_delivered_carrier_date') }} as delivered_to_carrier_at,
        {{ try_timestamp('order_delivered_customer_date') }} as delivered_to_customer_at,
        {{ try_timestamp('order_estimated_delivery_date') }} as estimated_delivery_at
    from deduplicated
    where _row_number = 1
)

select * from final
