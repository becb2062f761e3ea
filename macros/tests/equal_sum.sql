{#- equal_sum: sum(column) in the model equals sum(compare_column) in compare_model, to within
    `tolerance` (reconciliation of amounts across layers). The test's `where` config filters the model; `compare_filter` the other side. -#}
{% test equal_sum(model, column_name, compare_model, compare_column, compare_filter=none, tolerance=0.01) %}
with left_side as (
    select coalesce(sum({{ column_name }}), 0) as total
    from {{ model }}
),

right_side as (
    select coalesce(sum({{ compare_column }}), 0) as total
    from {{ compare_model }}
    {% if compare_filter %}where {{ compare_filter }}{% endif %}
)

select
    left_side.total as model_total,
    right_side.total as compare_total
from left_side
cross join right_side
where abs(left_side.total - right_side.total) > {{ tolerance }}
{% endtest %}
