{#- Uniqueness tests (dbt's built-in `unique`, overridden here, and unique_combination_of_columns).

    A table whose columns the database already keeps unique - a valid, non-partial unique index on
    exactly those columns, as every incremental model has on its key - cannot hold a duplicate, so
    the test checks that the index is there instead of grouping every row (4-5 s per test on a
    million rows, a third of an incremental build's test time). Without such an index (a view, a
    table rebuilt whole, an index dropped) the rows are grouped as before, so the test still fails
    on a duplicate. For a combination of columns, nulls count as equal values, so the index only
    stands in when its columns are all NOT NULL or it is NULLS NOT DISTINCT. -#}

{#- A condition that is true unless `model` is a table with such an index on `columns`. -#}
{% macro not_kept_unique_by_an_index(model, columns, nulls_are_equal) -%}
{%- if model.identifier is defined and model.identifier -%}
not exists (
    select 1
    from pg_index as unique_index
    where unique_index.indrelid = to_regclass('{{ model }}')
        and unique_index.indisunique
        and unique_index.indisvalid
        and unique_index.indpred is null
        and unique_index.indexprs is null
        and unique_index.indnatts = {{ columns | length }}
        and (
            select array_agg(indexed.attname::text order by indexed.attname::text)
            from pg_attribute as indexed
            where indexed.attrelid = unique_index.indrelid
                and indexed.attnum = any(unique_index.indkey)
                {%- if nulls_are_equal %}
                and (indexed.attnotnull or unique_index.indnullsnotdistinct)
                {%- endif %}
        ) = array[{% for column in columns | sort %}'{{ column }}'{{ ', ' if not loop.last }}{% endfor %}]::text[]
)
{%- else -%}
true
{%- endif -%}
{%- endmacro %}

{#- unique: no two rows share a non-null value of the column. Fails with each duplicated value. -#}
{% test unique(model, column_name) %}
select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
    and {{ not_kept_unique_by_an_index(model, [column_name], nulls_are_equal=false) }}
group by {{ column_name }}
having count(*) > 1
{% endtest %}
