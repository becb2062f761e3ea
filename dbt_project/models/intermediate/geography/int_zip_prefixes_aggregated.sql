{{ config(materialized='table') }}

with points as (
    select * from {{ ref('stg_olist__geolocation') }}
    where zip_code_prefix is not null
),

located as (
    -- The median point is robust to the stray points the file holds far from the prefix.
    select
        zip_code_prefix,
        percentile_cont(0.5) within group (order by latitude) as latitude,
        percentile_cont(0.5) within group (order by longitude) as longitude,
        count(*) as geolocation_points
    from points
    where is_in_brazil
    group by zip_code_prefix
),

spellings as (
    select
        zip_code_prefix,
        city,
        state,
        count(*) as occurrences
    from points
    where city is not null
    group by zip_code_prefix, city, state
),

most_common_spelling as (
    -- The most common spelling of the city wins ("são paulo" over "sao paulo" when more frequent);
    -- ties go to the accented form, which sorts after the plain one.
    select distinct on (zip_code_prefix)
        zip_code_prefix,
        city,
        state
    from spellings
    order by zip_code_prefix, occurrences desc, city desc
),

final as (
    select
        coalesce(located.zip_code_prefix, most_common_spelling.zip_code_prefix) as zip_code_prefix,
        most_common_spelling.city,
        most_common_spelling.state,
        located.latitude,
        located.longitude,
        coalesce(located.geolocation_points, 0) as geolocation_points
    from located
    full outer join most_common_spelling
        on located.zip_code_prefix = most_common_spelling.zip_code_prefix
)

select * from final
