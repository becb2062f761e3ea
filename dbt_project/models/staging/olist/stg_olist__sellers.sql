with source as (
    select * from {{ source('olist', 'sellers') }}
),

deduplicated as (
    select distinct on (lower(btrim(seller_id)))
        *
    from source
    where nullif(btrim(seller_id), '') is not null
    order by lower(btrim(seller_id)), _dlt_load_id desc, _source_row desc
),

final as (
    select
        lower(btrim(seller_id)) as seller_id,
        {{ zip_code_prefix('seller_zip_code_prefix') }} as seller_zip_code_prefix,
        nullif(btrim(seller_city), '') as seller_city,
        upper(btrim(seller_state)) as seller_state,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at
    from deduplicated
)

select * from final
