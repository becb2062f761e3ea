with source as (
    select * from {{ source('bcb', 'series_values') }}
),

with_iso_date as (
    select
        *,
        case
            when btrim(data) ~ '^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$'
                then split_part(btrim(data), '/', 3)
                || '-' || lpad(split_part(btrim(data), '/', 2), 2, '0')
                || '-' || lpad(split_part(btrim(data), '/', 1), 2, '0')
        end as iso_from_data
    from source
),

typed as (
    select
        series_code::integer as series_code,
        lower(btrim(series_name)) as series_name,
        -- `data` is dd/MM/yyyy; the loader also stores it parsed as reference_date.
        coalesce(reference_date::date, {{ try_date("iso_from_data") }}) as reference_date,
        -- SGS sends decimals with a dot; a comma (as in the site's CSV export) is accepted too.
        {{ try_numeric("replace(valor, ',', '.')") }} as value,
        _dlt_load_id
    from with_iso_date
),

deduplicated as (
    select distinct on (series_code, reference_date)
        *
    from typed
    where reference_date is not null
        and value is not null
    order by series_code, reference_date, _dlt_load_id desc
),

final as (
    select
        series_code,
        series_name,
        reference_date,
        value,
        {{ dlt_loaded_at() }} as _loaded_at
    from deduplicated
)

select * from final
