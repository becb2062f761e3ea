{{ config(
    materialized='incremental',
    unique_key=['review_id', 'order_id'],
    indexes=[{'columns': ['review_id', 'order_id'], 'unique': True}, {'columns': ['_built_at']}]
) }}
{#- Incremental: a run reads only the raw rows of new loads and replaces the keys they carry
    (macros/incremental.sql; DECISIONLOG.md "Incremental builds"). -#}

with source as (
    select * from {{ source('olist', 'order_reviews') }}
    {{ unread_loads() }}
),

deduplicated as (
    -- review_id alone is not unique in Olist (one review can cover several orders).
    select distinct on (lower(btrim(review_id)), lower(btrim(order_id)))
        *
    from source
    where nullif(btrim(review_id), '') is not null
        and nullif(btrim(order_id), '') is not null
        {{ not_superseded({'review_id': 'lower(btrim(source.review_id))', 'order_id': 'lower(btrim(source.order_id))'}, row_alias='source') }}
    order by lower(btrim(review_id)), lower(btrim(order_id)), _dlt_load_id desc, _source_row desc
),

final as (
    select
        lower(btrim(review_id)) as review_id,
        lower(btrim(order_id)) as order_id,
        case
            when {{ try_integer('review_score') }} between 1 and 5 then {{ try_integer('review_score') }}::integer
        end as review_score,
        -- Free text written by customers: kept here for text analysis, never passed to the marts.
        nullif(btrim(review_comment_title), '') as review_comment_title,
        nullif(btrim(review_comment_message), '') as review_comment_message,
        nullif(btrim(review_comment_title), '') is not null
        or nullif(btrim(review_comment_message), '') is not null as has_comment,
        {{ try_timestamp('review_creation_date') }} as review_created_at,
        {{ try_timestamp('review_answer_timestamp') }} as review_answered_at,
        _dlt_load_id,
        {{ dlt_loaded_at() }} as _loaded_at,
        {{ built_at() }} as _built_at
    from deduplicated
)

select * from final
