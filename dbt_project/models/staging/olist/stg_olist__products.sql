{{ config(
    materialized='incremental',
    unique_key='product_id',
    indexes=[{'columns': ['product_id'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads only the raw rows of new loads and replaces the products they carry
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"), and re-translates the products
    whose English category the seed or the source's translation file now gives differently. -#}

with source as (
    select * from {{ source('olist', 'products') }}
    {{ unread_loads() }}
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
        {{ not_superseded({'product_id': 'lower(btrim(source.product_id))'}, row_alias='source') }}
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
    {%- if is_incremental() %}
    union all
    -- Products already here whose category a changed seed or translation file names differently.
    select
        built.product_id,
        built.product_category_name,
        built.product_name_length,
        built.product_description_length,
        built.product_photos_count,
        built.product_weight_g,
        built.product_length_cm,
        built.product_height_cm,
        built.product_width_cm,
        built._dlt_load_id,
        built._loaded_at
    from {{ this }} as built
    left join curated_translations
        on built.product_category_name = curated_translations.product_category_name
    left join translations
        on built.product_category_name = translations.product_category_name
    where built.product_category_name is not null
        and (built.product_category, built.category_translation_source) is distinct from (
            coalesce(
                curated_translations.product_category_name_english,
                translations.product_category_name_english,
                built.product_category_name
            ),
            case
                when curated_translations.product_category_name_english is not null then 'seed'
                when translations.product_category_name_english is not null then 'source'
                else 'untranslated'
            end
        )
        and built.product_id not in (
            select lower(btrim(unread.product_id)) from deduplicated as unread
        )
    {%- endif %}
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
        _loaded_at,
        {{ built_at() }} as _built_at
    from categorized
)

select * from final
