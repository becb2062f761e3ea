{{ config(
    materialized='incremental',
    unique_key='_source_file',
    indexes=[{'columns': ['_source_file']}, {'columns': ['zip_code_prefix']}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads the raw rows of new loads and replaces the files they carry, whole
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with source as (
    -- Append-only: many points per zip prefix, and the same point again in later files.
    select * from {{ source('olist', 'geolocation') }}
    {{ unread_loads() }}
),

latest_load_per_file as (
    -- A file delivered again (rewritten upstream) is loaded again into this append-only table:
    -- its latest load replaces the earlier ones. A hash join on a few rows, not a sort of all.
    select
        _source_file,
        max(_dlt_load_id) as _dlt_load_id
    -- The source again rather than the CTE: a CTE read twice is materialized in full.
    from {{ source('olist', 'geolocation') }}
    {{ unread_loads() }}
    group by _source_file
),

typed as (
    select
        {{ zip_code_prefix('geolocation_zip_code_prefix') }} as zip_code_prefix,
        {{ try_numeric('geolocation_lat') }}::double precision as latitude,
        {{ try_numeric('geolocation_lng') }}::double precision as longitude,
        nullif(btrim(geolocation_city), '') as city,
        upper(btrim(geolocation_state)) as state,
        source._source_file,
        source._source_row,
        source._dlt_load_id
    from source
    inner join latest_load_per_file
        on source._source_file = latest_load_per_file._source_file
        and source._dlt_load_id = latest_load_per_file._dlt_load_id
    where true
        {{ not_superseded({'_source_file': 'source._source_file'}, row_alias='source') }}
),

final as (
    select
        zip_code_prefix,
        latitude,
        longitude,
        city,
        state,
        -- Brazil's bounding box; the Olist file has a few points in Europe and the ocean.
        coalesce(latitude between -34 and 5.5 and longitude between -74 and -34, false) as is_in_brazil,
        _source_file,
        _source_row,
        _dlt_load_id,
        {{ built_at() }} as _built_at
    from typed
)

select * from final
