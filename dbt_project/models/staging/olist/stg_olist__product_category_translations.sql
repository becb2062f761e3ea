with source as (
    select * from {{ source('olist', 'product_category_name_translation') }}
),

deduplicated as (
    select distinct on (lower(btrim(product_category_name)))
        *
    from source
    where nullif(btrim(product_category_name), '') is not null
    order by lower(btrim(product_category_name)), _dlt_load_id desc, _source_row desc
),

final as (
    select
        lower(btrim(product_category_name)) as product_category_name,
        lower(nullif(btrim(product_category_name_english), '')) as product_category_name_english
    from deduplicated
)

select * from final
