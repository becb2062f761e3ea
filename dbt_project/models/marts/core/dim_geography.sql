with zip_prefixes as (
    select * from {{ ref('int_zip_prefixes_aggregated') }}
),

customers as (
    select * from {{ ref('stg_olist__customers') }}
),

sellers as (
    select * from {{ ref('stg_olist__sellers') }}
),

states as (
    select * from {{ ref('brazil_states') }}
),

addresses as (
    -- Every prefix a customer or seller uses, with the city and state they typed, so that the
    -- prefixes the geolocation file lacks still get a row.
    select
        customer_zip_code_prefix as zip_code_prefix,
        customer_city as city,
        customer_state as state
    from customers
    where customer_zip_code_prefix is not null
    union all
    select
        seller_zip_code_prefix,
        seller_city,
        seller_state
    from sellers
    where seller_zip_code_prefix is not null
),

address_spellings as (
    select distinct on (zip_code_prefix)
        zip_code_prefix,
        city,
        state
    from (
        select
            zip_code_prefix,
            city,
            state,
            count(*) as occurrences
        from addresses
        group by 1, 2, 3
    ) as counted
    order by zip_code_prefix, occurrences desc, city desc nulls last
),

all_prefixes as (
    select zip_code_prefix from zip_prefixes
    union
    select zip_code_prefix from address_spellings
),

final as (
    select
        all_prefixes.zip_code_prefix,
        coalesce(zip_prefixes.city, address_spellings.city) as city,
        coalesce(zip_prefixes.state, address_spellings.state) as state_code,
        states.state_name,
        states.region_name,
        states.region_name_english,
        zip_prefixes.latitude,
        zip_prefixes.longitude,
        zip_prefixes.latitude is not null as has_coordinates,
        coalesce(zip_prefixes.geolocation_points, 0) as geolocation_points
    from all_prefixes
    left join zip_prefixes
        on all_prefixes.zip_code_prefix = zip_prefixes.zip_code_prefix
    left join address_spellings
        on all_prefixes.zip_code_prefix = address_spellings.zip_code_prefix
    left join states
        on coalesce(zip_prefixes.state, address_spellings.state) = states.state_code
)

select * from final
