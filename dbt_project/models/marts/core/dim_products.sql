with products as (
    select * from {{ ref('stg_olist__products') }}
),

items as (
    select * from {{ ref('int_order_items_costed') }}
),

current_costs as (
    select distinct on (product_id)
        product_id,
        unit_cost as current_unit_cost
    from {{ ref('stg_erp__product_costs') }}
    order by product_id, valid_from desc
),

unknown_products as (
    -- Products sold but missing from the catalogue file still get a row.
    select distinct items.product_id
    from items
    left join products
        on items.product_id = products.product_id
    where products.product_id is null
),

catalogue as (
    select
        product_id,
        product_category_name,
        product_category,
        product_category_label,
        category_translation_source,
        product_name_length,
        product_description_length,
        product_photos_count,
        product_weight_g,
        product_length_cm,
        product_height_cm,
        product_width_cm,
        true as is_in_catalogue
    from products
    union all
    select
        product_id,
        null,
        'unknown',
        'Unknown',
        'missing',
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        false
    from unknown_products
),

final as (
    select
        catalogue.*,
        current_costs.current_unit_cost
    from catalogue
    left join current_costs
        on catalogue.product_id = current_costs.product_id
)

select * from final
