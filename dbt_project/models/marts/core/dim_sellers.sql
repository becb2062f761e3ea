with sellers as (
    select * from {{ ref('stg_olist__sellers') }}
),

items as (
    select * from {{ ref('int_order_items_costed') }}
),

states as (
    select * from {{ ref('brazil_states') }}
),

unknown_sellers as (
    select distinct items.seller_id
    from items
    left join sellers
        on items.seller_id = sellers.seller_id
    where sellers.seller_id is null
),

all_sellers as (
    select
        seller_id,
        seller_zip_code_prefix,
        seller_city,
        seller_state,
        true as is_in_catalogue
    from sellers
    union all
    select
        seller_id,
        null,
        null,
        null,
        false
    from unknown_sellers
),

final as (
    select
        all_sellers.seller_id,
        all_sellers.seller_zip_code_prefix,
        all_sellers.seller_city,
        all_sellers.seller_state,
        states.region_name as seller_region_name,
        all_sellers.is_in_catalogue
    from all_sellers
    left join states
        on all_sellers.seller_state = states.state_code
)

select * from final
