with source as (
    select * from {{ source('olist', 'customers') }}
),

deduplicated as (
    select
        *,
        row_number() over (partition by customer_id order by _dlt_load_id desc) as _row_number
    from source
    where customer_id is not null and customer_id <> ''
),

final as (
    select
        customer_id,
        customer_unique_id,
        -- Zip prefixes are text with leading zeros, never numbers.
        lpad(customer_zip_code_prefix, 5, '0') as customer_zip_code_prefix,
        customer_city,
        upper(customer_state) as customer_state
    from deduplicated
    where _row_number = 1
)

select * from final
