{#- unique_combination_of_columns: no two rows share the same values in these columns (a
    composite primary key). Fails with each duplicated combination and how often it occurs.
    A table whose unique index already guarantees it is checked through the index (unique.sql). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select
    {{ combination_of_columns | join(',\n    ') }},
    count(*) as occurrences
from {{ model }}
where {{ not_kept_unique_by_an_index(model, combination_of_columns, nulls_are_equal=true) }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
