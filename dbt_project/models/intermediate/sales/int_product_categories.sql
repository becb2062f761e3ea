{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='product_id',
    indexes=[{'columns': ['product_id'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- The category of every product, as dim_products gives it, stamped when it changes: the models
    that sum sales by category read the products whose category changed since their last build
    from here (a new catalogue row, a changed translation, a product that appeared in the
    catalogue). dim_products is rebuilt whole by every run, so it cannot tell. A run compares the
    two tables by product (one hash join) and rewrites only what differs. -#}

with products as (
    select
        product_id,
        product_category
    from {{ ref('dim_products') }}
),
{%- if is_incremental() %}

changed_products as (
    select products.product_id
    from products
    left join {{ this }} as held
        on held.product_id = products.product_id
    where held.product_id is null
        or held.product_category is distinct from products.product_category
    union
    {{ keys_gone_from('products', 'product_id') }}
),
{%- endif %}

final as (
    select
        product_id,
        product_category,
        {{ built_at() }} as _built_at
    from products
    {%- if is_incremental() %}
    where product_id in (select product_id from changed_products)
    {%- endif %}
)

{{ select_replacing_keys('final', 'changed_products', 'product_id') }}
