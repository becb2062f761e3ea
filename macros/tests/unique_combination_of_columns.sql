{#- unique_combination_of_columns: no two rows share the same values in these columns (a
    composite primary key). Fails with each duplicated combination and how often it occurs. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select
    {{ combination_of_columns | join(',\n    ') }},
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
