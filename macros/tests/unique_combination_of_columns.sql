{#- unique_combination_of_columns: no two rows share the same values in these columns (a
    composite primary key), nulls counting as equal. Fails with each duplicated combination and how
    often it occurs.
    A table whose unique index already guarantees it is checked through the index (unique.sql).
    When the index's columns may be null, the index keeps the rows without a null unique (nulls
    are distinct in it), so only the rows with a null are grouped: one scan, no sort of the
    table. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select
    {{ combination_of_columns | join(',\n    ') }},
    count(*) as occurrences
from {{ model }}
where {{ not_kept_unique_by_an_index(model, combination_of_columns, nulls_are_equal=true) }}
    and (
        {{ not_kept_unique_by_an_index(model, combination_of_columns, nulls_are_equal=false) }}
        {%- for column in combination_of_columns %}
        or {{ column }} is null
        {%- endfor %}
    )
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
