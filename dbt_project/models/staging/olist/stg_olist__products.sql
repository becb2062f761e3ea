{{ config(materialized='table') }}
{#- A table, not a view: several models and tests read it, and at a million orders re-running
    its deduplication for each of them costs more than storing it once (DECISIONLOG.md). -#}

with source as (
    select * from {{ source('olist', 'products') }}
),

translations as (
    select * from {{ ref('stg_olist__product_category_translations') }}
),

curated_translations as (
    select * from {{ ref('category_translations') }}
),

deduplicated as (
    select distinct on (lower(btrim(product_id)))
        *
    from source
    where nullif(btrim(product_id), '') is not null
    order by lower(btrim(product_id)), _dlt_load_id desc, _source_row desc
),

renamed as (
    select
        lower(btrim(product_id)) as product_id,
        lower(nullif(btrim(product_category_name), '')) as product_category_name,
        -- The source's misspelled "lenght" columns get their proper names here.
        {{ try_integer('product_name_lenght') }}::integer as product_name_length,
        {{ try_integer('product_description_lenght') }}::integer as product_description_length,
        {{ try_integer('product_photos_qty') }}::integer as product_photos_count,
        {{ try_numeric('product_weight_g') }} as product_weight_g,
        {{ try_numeric('product_length_cm') }} as product_length_cm,
        {{ try_numeric('product_height_cm') }} as product_height_cm,
        {{ try_numeric('product_width_cm') }} as product_width_cm,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at
    from deduplicated
),

categorized as (
    -- English category: the project's curated seed first (fills the gaps of the source's
    -- translation file and fixes its typos), then the source's translation, then the Portuguese
    -- name itself; products without a category are 'uncategorized'.
    select
        renamed.*,
        case
            when renamed.product_category_name is null then 'uncategorized'
            else coalesce(
                curated_translations.product_category_name_english,
                translations.product_category_name_english,
                renamed.product_category_name
            )
        end as product_category,
        case
            when renamed.product_category_name is null then 'missing'
            when curated_translations.product_category_name_english is not null then 'seed'
            when translations.product_category_name_english is not null then 'source'
            else 'untranslated'
        end as category_translation_source
    from renamed
    left join curated_translations
        on renamed.product_category_name = curated_translations.product_category_name
    left join translations
        on renamed.product_category_name = translations.product_category_name
),

final as (
    select
        product_id,
        product_category_name,
        product_category,
        -- Humanised for reports: "bed_bath_table" -> "Bed bath table".
        upper(left(replace(product_category, '_', ' '), 1))
        || substr(replace(product_category, '_', ' '), 2) as product_category_label,
        category_translation_source,
        product_name_length,
        product_description_length,
        product_photos_count,
        product_weight_g,
        product_length_cm,
        product_height_cm,
        product_width_cm,
        _dlt_load_id,
        _loaded_at
    from categorized
)

select * from final
